"""Command line: ``python -m airflow_provider_bifrost.testing.emulator [--port 8080] ...``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from airflow_provider_bifrost.testing.emulator.server import serve
from airflow_provider_bifrost.testing.emulator.state import EmulatorConfig

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_bifrost.testing.emulator",
        description="Emulate the Bifrost gateway's batch API; drive it with EmulatorClient(url).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port, 0 for a free one (default 8080)")
    parser.add_argument(
        "--virtual-key",
        action="append",
        metavar="KEY[=POLICY]",
        help=(
            "require virtual keys; repeatable. POLICY: ok (default), budget_exceeded, blocked, model_blocked, "
            "provider_blocked, rate_limited, request_limited, token_limited"
        ),
    )
    parser.add_argument("--basic-auth", metavar="USER:PASSWORD", help="require gateway Basic auth")
    parser.add_argument("--bearer-token", metavar="TOKEN", help="require gateway Bearer auth")
    parser.add_argument("--timeline", metavar="V,P,F", help="validating,in_progress,finalizing seconds")
    parser.add_argument("--latency", type=float, help="seconds added to every gateway request")
    parser.add_argument("--results-page-size", type=int, help="page the results route")
    parser.add_argument("--item-bytes", type=int, help="approximate size of one result item")
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of ids, contents and fault probabilities (default: a fresh one, so ids never repeat a run)",
    )
    parser.add_argument(
        "--keep-encoded-slash",
        action="store_true",
        help="like gateways before mid-June 2026, pass %%2F in ids to the provider undecoded",
    )
    parser.add_argument(
        "--gemini-info-placeholder",
        action="store_true",
        help='like older gateways, answer a finished Gemini batch without results with one "info" item',
    )
    parser.add_argument("--bedrock-role-arn", metavar="ARN", help="a role ARN held on the gateway's Bedrock key")
    parser.add_argument(
        "--virtual-key-error-names",
        choices=["virtual_key", "access"],
        help="access: the v2.1 names of virtual-key errors (access_not_found, access_blocked)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` the command-line options describe."""
    fields: dict[str, Any] = {
        "bearer_token": args.bearer_token,
        "latency": args.latency,
        "results_page_size": args.results_page_size,
        "item_bytes": args.item_bytes,
        "seed": args.seed,
        "bedrock_role_arn": args.bedrock_role_arn,
        "virtual_key_error_names": args.virtual_key_error_names,
    }
    if args.keep_encoded_slash:
        fields["decode_encoded_ids"] = False
    if args.gemini_info_placeholder:
        fields["gemini_info_placeholder"] = True
    if args.virtual_key:
        keys = (item.partition("=") for item in args.virtual_key)
        fields["virtual_keys"] = {key: policy or "ok" for key, _, policy in keys}
    if args.basic_auth:
        user, _, password = args.basic_auth.partition(":")
        fields["basic_auth"] = (user, password)
    if args.timeline:
        fields["timeline"] = tuple(float(part) for part in args.timeline.split(","))
    return EmulatorConfig.model_validate({k: v for k, v in fields.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, start the emulator, print its URL when ready."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    serve(
        config,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        on_ready=lambda url: print(f"Bifrost emulator ready at {url}", flush=True),
    )


if __name__ == "__main__":
    main()
