# syntax=docker/dockerfile:1
# icon-edge and icon-node-agent images (used by infra/compose and infra/helm).
#   docker build --target icon-edge       -t icon-edge:dev .
#   docker build --target icon-node-agent -t icon-node-agent:dev .
# The binaries come from `make build-static`, the same target CI builds.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build-static VERSION=${VERSION}

# The agent image keeps busybox's sh: the Helm chart's init container and
# the compose restore step run "restore only when the data dir is empty".
FROM busybox:1.36.1-musl AS icon-node-agent
COPY --from=build /src/bin/icon-node-agent /usr/local/bin/icon-node-agent
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/icon-node-agent"]
CMD ["health", "--node", "http://127.0.0.1:9000", "--listen", "0.0.0.0:9100"]

# Last stage: what a plain `docker build .` produces.
FROM gcr.io/distroless/static-debian12:nonroot AS icon-edge
COPY --from=build /src/bin/icon-edge /usr/local/bin/icon-edge
USER 65532:65532
EXPOSE 9080 9090
ENTRYPOINT ["/usr/local/bin/icon-edge"]
CMD ["--config", "/etc/icon-edge/edge.yaml"]
