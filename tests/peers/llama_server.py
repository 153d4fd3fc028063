"""llama-cpp-python's OpenAI-compatible server, for tests/it/llama.rs and scripts/demo.sh.

It is `python -m llama_cpp.server` (same arguments, same app) with two additions:

- `--port 0` picks a free port; `--port_file PATH` receives it once the socket listens, so a
  test never guesses a free port and races another process for it;
- `--exit_on_stdin_eof` ends the server when its stdin closes: the test binary holds the other end,
  so the server goes when the tests end, even when they are killed.
"""

import argparse
import os
import socket
import sys
import threading

import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings


def watch_stdin() -> None:
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_args_from_model(parser, Settings)
    parser.add_argument("--port_file", type=str, help="Write the listening port here.")
    parser.add_argument("--exit_on_stdin_eof", action="store_true")
    args = parser.parse_args()
    server_settings = parse_model_from_args(ServerSettings, args)
    model_settings = [parse_model_from_args(ModelSettings, args)]
    if args.exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True).start()

    # Loads the model; only then is the port published, so a client never waits on a load.
    app = create_app(server_settings=server_settings, model_settings=model_settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((server_settings.host, server_settings.port))
    # Listening before uvicorn runs: a client that connects in between waits in the backlog.
    sock.listen(128)
    port = sock.getsockname()[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"llama server listening on {server_settings.host}:{port}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
