"""The ``leadscore`` command line: the one place that configures logging and progress.

Commands import their heavy dependencies (MLflow, LightGBM, BentoML) lazily, so
``leadscore --help`` and ``leadscore validate`` stay fast.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from features.contract import ContractError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("leadscore")


class UsageFailure(click.ClickException):
    """A failure the user can fix: printed as one clear line, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def clean_errors(func: F) -> F:
    """Turn expected failures (bad data, bad config, missing model) into one clear message."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ContractError as e:
            raise UsageFailure(str(e)) from None
        except (FileNotFoundError, ValueError, PermissionError) as e:
            if isinstance(e, ValueError) and type(e).__module__.startswith("numpy"):
                raise
            raise UsageFailure(str(e)) from None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """leadscore: lead-conversion and customer-acquisition scoring with reasons."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "mlflow", "urllib3", "git", "bentoml", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def step(message: str) -> None:
    """Progress line on stderr (stdout stays for results)."""
    click.echo(f"» {message}", err=True)


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Directory with leads/events/identities/outcomes (.csv or .parquet).")
@clean_errors
def validate(data_dir: Path) -> None:
    """Check a data directory against the data contract; print a summary of each table."""
    from features.contract import load_tables

    tables = load_tables(data_dir)
    summary = {name: {"rows": len(df), "columns": list(df.columns)} for name, df in tables.items()}
    click.echo(json.dumps(summary, indent=2))


@main.command()
@click.option("--leads", "n_leads", default=20_000, show_default=True, type=click.IntRange(min=10), help="Number of leads.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed; the same seed gives the same data.")
@click.option("--out", "out_dir", default="data/synthetic", show_default=True, type=click.Path(path_type=Path), help="Output directory.")
@click.option("--start", default="2024-01-01", show_default=True, help="First lead creation date.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(min=30), help="Days over which leads are created.")
@clean_errors
def generate(n_leads: int, seed: int, out_dir: Path, start: str, days: int) -> None:
    """Generate the synthetic B2B funnel (the embedded default data)."""
    from features.generate import generate as run_generate
    from features.generate import write_dataset

    tables, oracle = run_generate(n_leads, seed=seed, start=start, days=days, progress=step)
    paths = write_dataset(tables, oracle, out_dir)
    step(f"wrote {len(tables.leads):,} leads and {len(tables.events):,} events to {out_dir}")
    click.echo(json.dumps({"out": str(out_dir), "files": [p.name for p in paths]}))
