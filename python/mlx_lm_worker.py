"""One model, run by mlx-lm, behind a loopback HTTP endpoint that `mlxk serve --engine mlx-lm` drives.

mlxk keeps tokenization, chat templates, tool-call and reasoning parsing, and every API; this
process only turns token ids into token ids. Stock `mlx_lm.server` cannot be used for that: its
/v1/completions takes the prompt as text only and never streams token ids, and for models with
<think> or tool-call markers it strips those spans out of text completions.

Uses mlx-lm's public API only: utils.load_model, generate.generate_step, sample_utils.make_sampler
/ make_logits_processors, models.cache.make_prompt_cache / can_trim_prompt_cache / trim_prompt_cache.

Protocol (all JSON; mlxk/lib/engine/remote/protocol.ts is the other side):
  stdout, once loaded:  {"port": P, "mlx": "...", "mlx_lm": "..."}
  GET  /health          {"status": "ok"}
  POST /v1/generate     {"prompt": [ids], "max_tokens": n, "temperature", "top_p", "top_k", "min_p",
                         "seed", "repetition_penalty", "presence_penalty", "frequency_penalty",
                         "logit_bias": {id: bias}, "logprobs": top_n | null, "stop_token_ids": [ids]}
     → text/event-stream of `data: {...}` lines:
       {"event": "prefill", "cached_tokens": c, "total": t}
       {"event": "token", "id": i, "logprob": x, "top": [[id, logprob], ...]}   (logprob/top if asked)
       {"event": "end", "reason": "stop" | "length"}                           (stop: a stop token, not sent)
     A request that cannot run gets a 400 {"error": "..."} before the stream starts.
The process exits when its stdin closes (mlxk went away).
"""

import argparse
import json
import os
import queue
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache
from mlx_lm.sample_utils import make_logits_processors, make_sampler
from mlx_lm.utils import load_model

PROMPT_CACHE_ENTRIES = 4


class Cancelled(Exception):
    pass


class PromptCaches:
    """A few KV caches of earlier sequences; a request continues the one sharing its longest prefix."""

    def __init__(self, model, size):
        self.model = model
        self.size = size
        self.entries = []  # (tokens, cache), most recent last

    def take(self, prompt):
        best, best_len = None, 0
        for i, (tokens, cache) in enumerate(self.entries):
            n = 0
            for a, b in zip(tokens, prompt):
                if a != b:
                    break
                n += 1
            n = min(n, len(prompt) - 1)  # at least one prompt token must run to give logits
            if n > best_len and (n == len(tokens) or can_trim_prompt_cache(cache)):
                best, best_len = i, n
        if best is None:
            return make_prompt_cache(self.model), 0
        tokens, cache = self.entries.pop(best)
        if len(tokens) > best_len:
            trim_prompt_cache(cache, len(tokens) - best_len)
        return cache, best_len

    def put(self, tokens, cache):
        if tokens:
            self.entries.append((tokens, cache))
            del self.entries[: -self.size]


class Worker:
    def __init__(self, model, caches_size):
        self.model = model
        self.caches = PromptCaches(model, caches_size)
        self.jobs = queue.Queue()

    def loop(self):
        # All MLX work on the main thread: MLX streams are per thread, and mlx_lm.generate made
        # its generation stream at import, here.
        while True:
            body, out = self.jobs.get()
            try:
                self.generate(body, out)
            except Exception as e:  # reported to the request, the worker goes on
                out.put(("error", f"{type(e).__name__}: {e}"))
            out.put(None)

    def generate(self, body, out):
        prompt = body["prompt"]
        stop_ids = set(body.get("stop_token_ids") or [])
        top_n = body.get("logprobs")
        if body.get("seed") is not None:
            mx.random.seed(int(body["seed"]))
        sampler = make_sampler(
            temp=float(body.get("temperature", 0.0)),
            top_p=float(body.get("top_p", 1.0)),
            min_p=float(body.get("min_p", 0.0)),
            top_k=int(body.get("top_k", 0)),
        )
        processors = make_logits_processors(
            logit_bias={int(k): float(v) for k, v in (body.get("logit_bias") or {}).items()} or None,
            repetition_penalty=body.get("repetition_penalty"),
            presence_penalty=body.get("presence_penalty"),
            frequency_penalty=body.get("frequency_penalty"),
        )
        cache, cached = self.caches.take(prompt)
        out.put(("event", {"event": "prefill", "cached_tokens": cached, "total": len(prompt)}))
        generated = []
        reason = "length"
        try:
            steps = generate_step(
                mx.array(prompt[cached:], mx.uint32),
                self.model,
                max_tokens=int(body["max_tokens"]),
                sampler=sampler,
                logits_processors=processors,
                prompt_cache=cache,
            )
            for token, logprobs in steps:
                token = int(token)
                if token in stop_ids:
                    reason = "stop"
                    break
                generated.append(token)
                event = {"event": "token", "id": token}
                if top_n is not None:
                    event["logprob"] = logprobs[token].item()
                    if top_n > 0:
                        top = mx.argsort(-logprobs)[:top_n].tolist()
                        event["top"] = [[i, logprobs[i].item()] for i in top]
                if not out.put_checked(("event", event)):
                    raise Cancelled()
            out.put(("event", {"event": "end", "reason": reason}))
        except Cancelled:
            pass
        finally:
            # The cache holds every token run through the model: the prompt and all generated
            # tokens but the last (sampled, never fed back).
            length = cache[0].offset if cache and hasattr(cache[0], "offset") else 0
            self.caches.put((prompt + generated)[:length], cache)


class Channel(queue.Queue):
    """Events from the generation thread to one request; closed when its client went away."""

    def __init__(self):
        super().__init__()
        self.closed = threading.Event()

    def put_checked(self, item):
        if self.closed.is_set():
            return False
        self.put(item)
        return True


def handler(worker):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                self.reply(200, {"status": "ok"})
            else:
                self.reply(404, {"error": f"no route GET {self.path}"})

        def do_POST(self):
            if self.path != "/v1/generate":
                return self.reply(404, {"error": f"no route POST {self.path}"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                check(body)
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            out = Channel()
            worker.jobs.put((body, out))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            while True:
                item = out.get()
                if item is None:
                    break
                kind, payload = item
                if kind == "error":
                    payload = {"event": "error", "message": payload}
                try:
                    self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                    self.wfile.flush()
                except OSError:
                    out.closed.set()  # generation stops at its next token; drain until it does
                    while out.get() is not None:
                        pass
                    return

    return Handler


def check(body):
    p = body["prompt"]
    if not isinstance(p, list) or not p or not all(isinstance(i, int) and i >= 0 for i in p):
        raise ValueError("prompt must be a non-empty array of token ids")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        raise ValueError("max_tokens must be a positive integer")
    n = body.get("logprobs")
    if n is not None and (not isinstance(n, int) or n < 0 or n > 20):
        raise ValueError("logprobs must be an integer 0..20 or null")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="MLX checkpoint directory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="cast float parameters (default: as stored on Metal, float32 on CPU)")
    ap.add_argument("--prompt-cache-entries", type=int, default=PROMPT_CACHE_ENTRIES)
    args = ap.parse_args()
    model, _ = load_model(Path(args.model))
    # MLX's CPU backend runs gather_mm (the routed experts of every MoE model) in float32 only.
    dtype = args.dtype or (None if mx.metal.is_available() else "float32")
    if dtype:
        model.set_dtype(getattr(mx, dtype))
    mx.eval(model.parameters())
    worker = Worker(model, args.prompt_cache_entries)
    server = ThreadingHTTPServer((args.host, args.port), handler(worker))
    import mlx_lm

    versions = {"mlx": getattr(mx, "__version__", "?"), "mlx_lm": getattr(mlx_lm, "__version__", "?")}
    print(json.dumps({"port": server.server_address[1], **versions}), flush=True)

    def parent_watch():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=parent_watch, daemon=True).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker.loop()


if __name__ == "__main__":
    main()
