locals {
  name   = "icon-edge-${var.region}"
  origin = "${var.region}.${var.zone_name}"
  vm     = var.mode == "vm" ? 1 : 0
}

# The NLB accepts only Cloudflare: clients reach a region through the geo
# load balancer, never around it.
resource "aws_security_group" "nlb" {
  name        = "${local.name}-nlb"
  description = "icon-edge ${var.region} NLB: HTTPS from Cloudflare only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-nlb" })
}

resource "aws_vpc_security_group_ingress_rule" "cloudflare" {
  for_each          = toset(var.cloudflare_ranges)
  security_group_id = aws_security_group.nlb.id
  description       = "Cloudflare"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = strcontains(each.key, ":") ? null : each.key
  cidr_ipv6         = strcontains(each.key, ":") ? each.key : null
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_edges" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "to the edges"
  ip_protocol                  = "tcp"
  from_port                    = 9080
  to_port                      = 9080
  referenced_security_group_id = aws_security_group.edge.id
}

resource "aws_security_group" "edge" {
  name        = local.name
  description = "icon-edge ${var.region}: traffic from the NLB, metrics from Prometheus"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = local.name })
}

resource "aws_vpc_security_group_ingress_rule" "from_nlb" {
  security_group_id            = aws_security_group.edge.id
  description                  = "JSON-RPC and /readyz from the NLB"
  ip_protocol                  = "tcp"
  from_port                    = 9080
  to_port                      = 9080
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each          = toset(var.metrics_cidrs)
  security_group_id = aws_security_group.edge.id
  description       = "Prometheus scrapes admin_listen"
  ip_protocol       = "tcp"
  from_port         = 9090
  to_port           = 9090
  cidr_ipv4         = each.key
}

resource "aws_vpc_security_group_egress_rule" "edge_all" {
  security_group_id = aws_security_group.edge.id
  description       = "nodes, Elasticsearch, packages"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_acm_certificate" "origin" {
  domain_name       = local.origin
  validation_method = "DNS"
  tags              = var.tags
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = { for o in aws_acm_certificate.origin.domain_validation_options : o.domain_name => o }

  zone_id         = var.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "origin" {
  certificate_arn         = aws_acm_certificate.origin.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_lb" "edge" {
  name               = local.name
  internal           = false
  load_balancer_type = "network"
  subnets            = var.public_subnet_ids
  security_groups    = [aws_security_group.nlb.id]
  ip_address_type    = "dualstack"
  tags               = var.tags
}

# /readyz: 200 only while the edge has an in-sync node and is not draining,
# so the NLB stops sending before a deploy or when a region loses its nodes.
resource "aws_lb_target_group" "edge" {
  name                 = local.name
  port                 = 9080
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  target_type          = var.mode == "vm" ? "instance" : "ip"
  deregistration_delay = 30
  preserve_client_ip   = "true"

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.edge.arn
  port              = 443
  protocol          = "TLS"
  certificate_arn   = aws_acm_certificate_validation.origin.certificate_arn
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  alpn_policy       = "HTTP1Only"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.edge.arn
  }
  tags = var.tags
}

resource "aws_route53_record" "origin" {
  for_each = toset(["A", "AAAA"])
  zone_id  = var.zone_id
  name     = local.origin
  type     = each.key
  alias {
    name                   = aws_lb.edge.dns_name
    zone_id                = aws_lb.edge.zone_id
    evaluate_target_health = true
  }
}

locals {
  boot_vars = {
    icon_edge_region          = var.region
    icon_edge_upstreams       = var.upstreams
    icon_edge_listen          = "0.0.0.0:9080"
    icon_edge_admin_listen    = "0.0.0.0:9090"
    icon_edge_trusted_proxies = var.cloudflare_ranges
  }
}

resource "aws_launch_template" "edge" {
  count                  = local.vm
  name_prefix            = "${local.name}-"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.edge.id]
  update_default_version = true
  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    boot_vars = jsonencode(local.boot_vars)
  }))

  metadata_options {
    http_tokens = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = local.name })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.ami_id != null && length(var.private_subnet_ids) > 0 && length(var.upstreams) > 0
      error_message = "mode = \"vm\" needs ami_id, private_subnet_ids and upstreams."
    }
  }
}

resource "aws_autoscaling_group" "edge" {
  count                     = local.vm
  name                      = local.name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.private_subnet_ids
  target_group_arns         = [aws_lb_target_group.edge.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 120

  launch_template {
    id      = aws_launch_template.edge[0].id
    version = aws_launch_template.edge[0].latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = local.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  count                  = local.vm
  name                   = "${local.name}-cpu"
  autoscaling_group_name = aws_autoscaling_group.edge[0].name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = 50
  }
}
