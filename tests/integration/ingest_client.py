#!/usr/bin/env python3
"""ingest_client.py -- an integration of another language publishing through
`sentinel ingest`, with Python's standard library only (http.client, ssl,
json), as a GitHub app's webhook handler would. test_ingest.c drives it.

  ingest_client.py post URL TOKENS FILE [--batch N] [--json] [--atomic]
                   [--threads N] [--acked PATH] [--cafile CA]
      Post FILE's events (NDJSON), grouped by workspace, each group with its
      workspace's token (TOKENS: a file of "workspace_id token" lines), in
      batches of N (default 500) on keep-alive connections, a workspace's
      batches in order (--threads workspaces at once). 429 and 503 are
      retried after Retry-After, only the events not delivered. The event
      ids of acknowledged events are appended to PATH as they are
      acknowledged. Prints {"requests", "accepted", "rejected", "statuses"}.
  ingest_client.py request URL METHOD PATH [--token T] [--type CT]
                   [--data TEXT | --data-file F] [--cafile CA] [--repeat N]
      One request; prints the status, the headers (JSON) and the body, one
      line each. With --repeat N, up to N of them in a row, each on its own
      connection, stopping at a 429; prints their statuses on one line.
"""
import argparse
import collections
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def connect(url, cafile, timeout=60):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def request(args):
    conn = connect(args.url, args.cafile)
    headers = {}
    if args.token is not None:
        headers["Authorization"] = "Bearer " + args.token
    if args.type:
        headers["Content-Type"] = args.type
    body = None
    if args.data is not None:
        body = args.data.encode()
    elif args.data_file:
        with open(args.data_file, "rb") as f:
            body = f.read()
    if args.repeat > 1:
        statuses = []
        for _ in range(args.repeat):
            conn = connect(args.url, args.cafile)
            conn.request(args.method, args.path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            statuses.append(str(resp.status))
            if resp.status == 429:
                break
        print(" ".join(statuses))
        return
    conn.request(args.method, args.path, body=body, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    print(resp.status)
    print(json.dumps({k.lower(): v for k, v in resp.getheaders()}))
    print(text.rstrip("\n"))


class Poster:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.totals = {"requests": 0, "accepted": 0, "rejected": 0, "statuses": collections.Counter()}
        self.acked = open(args.acked, "a") if args.acked else None
        self.tokens = {}
        with open(args.tokens) as f:
            for line in f:
                if line.strip():
                    workspace, token = line.split()
                    self.tokens[workspace] = token

    def post_batch(self, conn, token, lines):
        """Post until every event is delivered or rejected; returns the connection."""
        path = "/v1/events" + ("?atomic=true" if self.args.atomic else "")
        ctype = "application/json" if self.args.json else "application/x-ndjson"
        pending = list(range(len(lines)))
        while pending:
            batch = [lines[i] for i in pending]
            body = ("[" + ",".join(batch) + "]") if self.args.json else "\n".join(batch) + "\n"
            try:
                conn.request("POST", path, body=body.encode(),
                             headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
                resp = conn.getresponse()
                answer = json.loads(resp.read() or b"{}")
            except (ConnectionError, http.client.HTTPException, OSError):
                if self.args.stop_on_error:
                    raise
                conn.close()
                conn = connect(self.args.url, self.args.cafile)
                time.sleep(0.2)
                continue
            with self.lock:
                self.totals["requests"] += 1
                self.totals["statuses"][str(resp.status)] += 1
            if resp.status in (429, 503):
                retry = answer.get("not_delivered") if resp.status == 503 else None
                delivered = set(range(len(batch))) - set(retry) if retry is not None else set()
                rejected = {r["index"] for r in answer.get("rejected", [])}
                self.record(batch, delivered - rejected, answer.get("rejected", []))
                keep = retry if retry is not None else range(len(batch))
                pending = [pending[i] for i in keep if i not in rejected]
                time.sleep(float(resp.getheader("Retry-After", "1")))
                continue
            if resp.status not in (200, 422):
                raise SystemExit("unexpected %d: %s" % (resp.status, answer))
            rejected = {r["index"] for r in answer["rejected"]}
            ok = set(range(len(batch))) - rejected if resp.status == 200 else set()
            self.record(batch, ok, answer["rejected"])
            pending = []
        return conn

    def record(self, batch, delivered, rejections):
        with self.lock:
            self.totals["accepted"] += len(delivered)
            self.totals["rejected"] += len(rejections)
            if self.acked:
                for i in sorted(delivered):
                    self.acked.write(json.loads(batch[i])["event_id"] + "\n")
                self.acked.flush()

    def worker(self, jobs):
        """Each job is one workspace's batches, posted in order: the order
        of a workspace's events is the order of its partition."""
        conn = connect(self.args.url, self.args.cafile)
        try:
            while True:
                with self.lock:
                    if not jobs:
                        return
                    token, batches = jobs.popleft()
                for lines in batches:
                    conn = self.post_batch(conn, token, lines)
        except (ConnectionError, OSError) as e:
            with self.lock:
                self.totals["statuses"]["connection: " + type(e).__name__] += 1
        finally:
            conn.close()

    def run(self):
        groups = collections.OrderedDict()
        with open(self.args.file) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    workspace = json.loads(line).get("workspace_id")
                except ValueError:
                    workspace = None
                if workspace not in self.tokens:
                    workspace = next(iter(self.tokens))
                groups.setdefault(workspace, []).append(line)
        jobs = collections.deque()
        for workspace, lines in groups.items():
            jobs.append((self.tokens[workspace],
                         [lines[i:i + self.args.batch] for i in range(0, len(lines), self.args.batch)]))
        threads = [threading.Thread(target=self.worker, args=(jobs,)) for _ in range(self.args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.totals["statuses"] = dict(self.totals["statuses"])
        print(json.dumps(self.totals, sort_keys=True))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    post = sub.add_parser("post")
    post.add_argument("url")
    post.add_argument("tokens")
    post.add_argument("file")
    post.add_argument("--batch", type=int, default=500)
    post.add_argument("--json", action="store_true")
    post.add_argument("--atomic", action="store_true")
    post.add_argument("--threads", type=int, default=1)
    post.add_argument("--acked")
    post.add_argument("--cafile")
    post.add_argument("--stop-on-error", action="store_true")
    req = sub.add_parser("request")
    req.add_argument("url")
    req.add_argument("method")
    req.add_argument("path")
    req.add_argument("--token")
    req.add_argument("--type")
    req.add_argument("--data")
    req.add_argument("--data-file")
    req.add_argument("--cafile")
    req.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    if args.command == "post":
        Poster(args).run()
    else:
        request(args)


if __name__ == "__main__":
    sys.exit(main())
