"""Locust load test for an ICON JSON-RPC v3 endpoint (icon-edge or goloop).

For teams that already run Locust. icon-loadtest (cmd/icon-loadtest) is the
project's own tester: open loop, HDR percentiles, capture replay, and several
times Locust's rate on the same cores (loadtest/bench/locust_vs_loadtest.sh).

    locust -f loadtest/locust/locustfile.py --host http://127.0.0.1:9080 \
        --headless -u 100 -r 100 -t 30s

Environment:
    ICON_PATH      JSON-RPC path on the host (default /api/v3)
    ICON_ONLY      run only this method (e.g. icx_getLastBlock), for benchmarks
    ICON_WAIT      seconds between a user's requests (default 0: as fast as possible)

The method weights follow icon-loadtest's built-in mix. Parameters are drawn
from the last blocks, read once per user at start.
"""

import itertools
import json
import os
import random

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

PATH = os.environ.get("ICON_PATH", "/api/v3")
ONLY = os.environ.get("ICON_ONLY", "")
CHAIN_SCORE = "cx0000000000000000000000000000000000000000"
ZERO_ACCOUNT = "hx" + "0" * 40

_ids = itertools.count(1)


class IconUser(FastHttpUser):
    wait_time = constant(float(os.environ.get("ICON_WAIT", "0")))

    def on_start(self):
        self.height = 0
        self.accounts = [ZERO_ACCOUNT]
        self.txs = []
        self.blocks = []
        if ONLY:
            return
        last = self._rpc("icx_getLastBlock", name="setup")
        if not last:
            return
        self.height = last.get("height", 0)
        for h in range(self.height, max(self.height - 8, -1), -1):
            blk = self._rpc("icx_getBlockByHeight", {"height": hex(h)}, name="setup")
            if not blk:
                continue
            self.blocks.append("0x" + blk.get("block_hash", "").removeprefix("0x"))
            for tx in blk.get("confirmed_transaction_list", []):
                if "txHash" in tx:
                    self.txs.append(tx["txHash"])
                for k in ("from", "to"):
                    if tx.get(k, "").startswith("hx"):
                        self.accounts.append(tx[k])

    def _rpc(self, method, params=None, name=None):
        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
        if params is not None:
            body["params"] = params
        with self.client.post(PATH, data=json.dumps(body), name=name or method,
                              headers={"Content-Type": "application/json"},
                              catch_response=True) as resp:
            try:
                doc = json.loads(resp.content or b"null")
            except ValueError:
                resp.failure("HTTP %s, not JSON" % resp.status_code)
                return None
            if isinstance(doc, dict) and "error" in doc:
                resp.failure("jsonrpc %s" % doc["error"].get("code"))
                return None
            if resp.status_code != 200:
                resp.failure("HTTP %s" % resp.status_code)
                return None
            resp.success()
            return doc.get("result") if isinstance(doc, dict) else doc

    def _tx(self):
        if self.txs:
            return random.choice(self.txs)
        return "0x%064x" % random.getrandbits(256)

    def _gate(self, method):
        return not ONLY or ONLY == method

    @task(35)
    def icx_call(self):
        if self._gate("icx_call"):
            self._rpc("icx_call", {"to": CHAIN_SCORE, "dataType": "call",
                                   "data": {"method": random.choice(["getRevision", "getStepPrice"])}})

    @task(15)
    def icx_getLastBlock(self):
        if self._gate("icx_getLastBlock"):
            self._rpc("icx_getLastBlock")

    @task(15)
    def icx_getBalance(self):
        if self._gate("icx_getBalance"):
            self._rpc("icx_getBalance", {"address": random.choice(self.accounts)})

    @task(12)
    def icx_getTransactionResult(self):
        if self._gate("icx_getTransactionResult"):
            self._rpc("icx_getTransactionResult", {"txHash": self._tx()})

    @task(10)
    def icx_getBlockByHeight(self):
        if self._gate("icx_getBlockByHeight"):
            h = max(self.height - random.randint(0, 64), 0)
            self._rpc("icx_getBlockByHeight", {"height": hex(h)})

    @task(5)
    def icx_getTransactionByHash(self):
        if self._gate("icx_getTransactionByHash"):
            self._rpc("icx_getTransactionByHash", {"txHash": self._tx()})

    @task(3)
    def icx_getBlockByHash(self):
        if self._gate("icx_getBlockByHash") and self.blocks:
            self._rpc("icx_getBlockByHash", {"hash": random.choice(self.blocks)})

    @task(2)
    def icx_getScoreApi(self):
        if self._gate("icx_getScoreApi"):
            self._rpc("icx_getScoreApi", {"address": CHAIN_SCORE})

    @task(1)
    def icx_getTotalSupply(self):
        if self._gate("icx_getTotalSupply"):
            self._rpc("icx_getTotalSupply")
