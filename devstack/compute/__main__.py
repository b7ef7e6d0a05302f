"""Run the Microsoft.Compute ARM emulator and its managed-identity endpoint."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from devstack.compute.certs import ensure_certificate
from devstack.compute.identity import IdentityHandler, TokenIssuer
from devstack.compute.images import ImageStore
from devstack.compute.operations import OperationLog
from devstack.compute.routes import ArmRoutes
from devstack.compute.server import ArmServer
from devstack.compute.state_files import StateTable
from devstack.config import StackConfig
from devstack.faults.arm import ArmFaults
from devstack.faults.profile import saved_profile

logger = logging.getLogger("devstack.compute")


def identity_server(config: StackConfig, issuer: TokenIssuer) -> ThreadingHTTPServer:
    """The plain-HTTP App Service identity endpoint on identity_port."""
    handler = type(
        "StackIdentityHandler",
        (IdentityHandler,),
        {"issuer": issuer, "identity_header": config.identity_header},
    )
    server = ThreadingHTTPServer((config.host, config.identity_port), handler)
    server.daemon_threads = True
    return server


def arm_server(config: StackConfig, issuer: TokenIssuer) -> ArmServer:
    """The HTTPS ARM endpoint on arm_port, with state under <state_dir>/arm."""
    ensure_certificate(config.cert_path, config.key_path)
    arm_dir = config.state_dir / "arm"
    images = ImageStore(
        StateTable(arm_dir, "images"), delete_seconds=config.image_seconds
    )
    faults = ArmFaults(saved_profile(config.state_dir))
    operations = OperationLog(StateTable(arm_dir, "operations"), faults)
    routes = ArmRoutes(config, images, operations)
    return ArmServer(
        (config.host, config.arm_port),
        routes,
        issuer,
        config.cert_path,
        config.key_path,
    )


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m devstack.compute")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )

    logging.getLogger("azure").setLevel(logging.WARNING)

    config = StackConfig.load(args.state_dir)
    issuer = TokenIssuer(config.identity_header)
    servers = [arm_server(config, issuer), identity_server(config, issuer)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(
        f"compute emulator ready: arm={config.arm_endpoint} "
        f"identity={config.identity_endpoint}",
        flush=True,
    )
    logger.info(
        "Serving ARM on %s and identity on %s",
        config.arm_endpoint,
        config.identity_endpoint,
    )
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
