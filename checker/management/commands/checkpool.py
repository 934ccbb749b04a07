from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from checker.models import Pool
from checker.services.pools import pool_progress, pool_recheck, pool_recheck_enqueue
from core.errors import PortalError


class Command(BaseCommand):
    help = (
        "Re-check the public or premium pool now, shard by shard, in this process; or hand its "
        "due shards to the workers (--enqueue, what the schedule runs); or show where its "
        "re-checking stands (--status)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pool", required=True, help="public or premium")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--status", action="store_true", help="report progress, check nothing")
        mode.add_argument("--enqueue", action="store_true", help="enqueue the shards that are due")
        parser.add_argument("--all", action="store_true", help="with --enqueue: every idle shard, due or not")

    def handle(self, *args, pool, status, enqueue, all, **options):  # noqa: A002 - the option's name
        pool = pool.strip().lower()
        if pool not in Pool.values:
            raise CommandError(f"--pool must be one of: {', '.join(Pool.values)} (not {pool!r}).")
        try:
            if status:
                self._status(pool)
            elif enqueue:
                result = pool_recheck_enqueue(pool=pool, force=all)
                self.stdout.write(f"The {pool} pool has {result['shards']} shards; "
                                  f"{result['enqueued']} handed to the workers.")
            else:
                self._run(pool)
        except PortalError as exc:
            raise CommandError(exc.message) from None
        except ValueError as exc:  # unusable CHECKER_JUDGE_URL
            raise CommandError(f"Cannot check: {exc}") from None

    def _run(self, pool: str) -> None:
        def progress(shard, result):
            if result is None:
                self.stdout.write(f"  shard {shard.first_id}-{shard.last_id}: a worker holds it, left to it")
            else:
                self.stdout.write(f"  shard {shard.first_id}-{shard.last_id}: {result['checked']} checked, "
                                  f"{result['live']} live")

        result = pool_recheck(pool=pool, on_shard=progress)
        busy = f" ({result['busy']} shards left to the workers holding them)" if result["busy"] else ""
        self.stdout.write(
            f"Checked {result['checked']} proxies of the {pool} pool: {result['live']} live, "
            f"{result['dead']} dead.{busy}"
        )

    def _status(self, pool: str) -> None:
        p = pool_progress(pool=pool)
        now = timezone.now()
        share = (p["fresh"] * 100 // p["proxies"]) if p["proxies"] else 100
        states = p["by_status"]
        lines = [
            f"The {pool} pool: {p['proxies']} proxies in {p['shards']} shards.",
            f"Checked within the last {p['period_s']:.0f} s: {p['fresh']} ({share} %).",
            f"Shards: {states['running']} running, {states['queued']} queued, {states['done']} idle "
            f"({p['never_checked']} never checked).",
        ]
        for shard in p["running"]:
            beat = (now - shard["heartbeat_at"]).total_seconds() if shard["heartbeat_at"] else None
            lines.append(f"  running {shard['first_id']}-{shard['last_id']}: {shard['checked']} checked so far"
                         + (f", heartbeat {beat:.0f} s ago" if beat is not None else ""))
        if p["last_finished_at"]:
            ago = (now - p["last_finished_at"]).total_seconds()
            lines.append(f"Last shard finished {ago:.0f} s ago; rate over the last 10 minutes: "
                         f"{p['rate_per_s']:.0f} proxies/s.")
        self.stdout.write("\n".join(lines))
