"""Container entrypoint: ``python -m executor --config /etc/stratops/executor.json``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from executor.config import ConfigError, load_config
from executor.logs import setup_logging

EXIT_CONFIG = 2

log = logging.getLogger("executor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m executor", description="Run one stratops strategy.")
    parser.add_argument("--config", required=True, type=Path, help="path to executor.json")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        log.error("invalid config: %s", exc, extra={"fields": {"event": "config_error"}})
        return EXIT_CONFIG
    setup_logging({"strategy": cfg.name, "tenant": cfg.tenant})
    from executor.loader import load_strategy_class
    from executor.runner import Runner, install_guard

    install_guard(cfg)
    try:
        cls = load_strategy_class(cfg.code_dir, cfg.code_file, cfg.code_class, cfg.code_sha256)
        if cfg.clock == "data":
            from executor.replay import ReplayRunner

            runner = ReplayRunner(cfg, cls)
        else:
            runner = Runner(cfg, cls)
    except Exception as exc:  # user code runs at import and in __init__
        log.error("cannot load strategy: %s", exc, extra={"fields": {"event": "load_error"}})
        return EXIT_CONFIG
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
