"""`jifen notify`: deliver the outbox (once, for a systemd timer or cron, or as a
long-running worker), and the office's dead-letter list: see it, send again."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from service.cli.common import BY_OPTION, cli_database, cli_settings, office_principal
from service.kernel.i18n import terminal_gettext as _

if TYPE_CHECKING:
    from service.notify.sender import Before


@click.group("notify")
def notify() -> None:
    """Deliver notifications: emails and group-robot posts from the outbox."""


def _before() -> tuple[Before, ...]:
    # The reminder sweeps and the weekly digests run first in every pass, so one timer
    # drives everything that tells people.
    from service.notify.digest import compose_digests
    from service.reminders.sweeps import sweep_all

    return (sweep_all, compose_digests)


@notify.command("run")
@click.option("--loop", is_flag=True, help="Keep running, a pass every --interval seconds.")
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds between passes with --loop.",
)
def notify_run(loop: bool, interval: float) -> None:
    """Deliver every due message once (for a systemd timer or cron), or keep doing so
    with --loop (stops cleanly on SIGTERM or Ctrl-C)."""
    from service.kernel.logs import configure_unless_configured
    from service.notify.sender import run_loop, run_once

    settings = cli_settings()
    # Each pass logs one line of counts (never a secret): the journal of the timer.
    configure_unless_configured(settings)
    database = cli_database()
    if not loop:
        report = run_once(database, settings, before=_before())
        click.echo(
            _(
                "%(sent)d sent, %(retrying)d to retry, %(dead)d dead, %(skipped)d skipped, "
                "%(held)d held for quiet hours"
            )
            % {
                "sent": report.sent,
                "retrying": report.retrying,
                "dead": report.dead,
                "skipped": report.skipped,
                "held": report.held,
            }
        )
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        # Set from another thread: the handler runs in the main thread, which may hold
        # the event's own lock at that moment (inside its wait), and would deadlock.
        threading.Thread(target=stop.set, name="notify-stop").start()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        click.echo(_("sending notifications every %(seconds)g seconds") % {"seconds": interval})
        run_loop(database, settings, interval=interval, stop_event=stop, before=_before())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(_("stopped"))


@notify.command("dead")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@BY_OPTION
def notify_dead(page: int, by_username: str | None) -> None:
    """List the messages that failed every attempt, with their last error."""
    from service.notify.dead_letters import dead_letters
    from service.notify.sender import scrub

    with cli_database().transaction(write=False) as session:
        principal = office_principal(session, by_username)
        letters = dead_letters(session, principal, page=page)
    if not letters:
        click.echo(_("no dead messages"))
        return
    for letter in letters:
        row = letter.delivery
        kind = letter.kind or "digest"
        error = scrub(row.last_error).replace("\n", " ")
        click.echo(f"{row.id}\t{row.channel.value}\t{kind}\t{row.attempts}\t{error}")


@notify.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Send every dead message again.")
@BY_OPTION
def notify_retry(ids: tuple[int, ...], everything: bool, by_username: str | None) -> None:
    """Send dead messages again (by id, or --all): pending, attempts from zero."""
    from service.notify.dead_letters import retry_dead

    if everything == bool(ids):
        raise click.UsageError(_("give the ids of dead messages, or --all"))
    with cli_database().transaction() as session:
        principal = office_principal(session, by_username)
        count = retry_dead(session, principal, None if everything else list(ids))
    click.echo(_("%(count)d messages will be sent again") % {"count": count})
