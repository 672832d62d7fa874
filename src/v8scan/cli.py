"""The `v8scan` command. Each command only wires options to the library and a renderer.

Errors: a V8ScanError becomes one line on stderr (with a hint) and exit code 2; --debug
shows the traceback instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import click

from . import __version__

EXIT_BAD_INPUT = 2


class _Progress:
    """A one-line progress bar on stderr: only on a terminal, and only once a scan has run
    for a second (short scans stay silent)."""

    def __init__(self, enabled: bool, path: str) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        try:
            size = f" ({os.path.getsize(path) / 2**30:.1f} GiB)"
        except OSError:
            size = ""
        self.label = os.path.basename(path) + size
        self.start = time.monotonic()
        self.shown = -1
        self.what = "scanning"

    def restart(self, what: str) -> None:
        """The bar of a next step of the work, from 0%."""
        self.what, self.shown = what, -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.start < 1.0:
            return
        percent = 100 * done // max(total, 1)
        if percent == self.shown:
            return
        self.shown = percent
        width = 30
        filled = width * percent // 100
        sys.stderr.write(f"\r{self.what} {self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{percent:3d}%")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown >= 0:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


def _error(message: str) -> None:
    """One line on stderr: text from a core (paths, names) is escaped, never raw."""
    from .render import printable
    click.echo(f"v8scan: error: {printable(message)}", err=True)


def _run(action: Callable[[], None], debug: bool) -> None:
    """Run a command's action; every failure becomes one line on stderr and exit code 2
    (130 when interrupted). With --debug a traceback comes first."""
    from .errors import V8ScanError
    try:
        action()
    except V8ScanError as exc:
        if debug:
            traceback.print_exc()
        _error(f"{exc}" + (f" ({exc.hint})" if exc.hint else ""))
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("v8scan: interrupted", err=True)
        sys.exit(130)
    except MemoryError:
        _error("out of memory (the core may be damaged)")
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:  # a core can be damaged in ways no check foresaw
        if debug:
            traceback.print_exc()
        _error(f"internal error ({type(exc).__name__}: {exc}); the core may be damaged "
               "(--debug shows where)")
        sys.exit(EXIT_BAD_INPUT)


def _warn(warnings) -> None:
    from .render import printable
    for w in warnings:
        click.echo(f"v8scan: warning: {printable(w)}", err=True)


def _report_reads(dump) -> None:
    """--debug: how much of the core the command read, against its heap pages."""
    from .render import printable
    read, heap, total = dump.bytes_read(), dump.heap_page_bytes(), dump.core.memory.total_bytes
    rest = max(total - heap, 1)
    click.echo(f"v8scan: debug: {printable(dump.path)}: read {read / 2**20:,.1f} MiB of the "
               f"core's {total / 2**20:,.1f} MiB of memory: its heap pages hold "
               f"{heap / 2**20:,.1f} MiB, and {max(read - heap, 0) / 2**20:,.1f} MiB "
               f"({100 * max(read - heap, 0) / rest:.1f}%) of the rest was read", err=True)


@contextmanager
def _opened(core: str, node: Optional[str], force: bool, debug: bool = False) -> Iterator:
    """The dump at `core`, opened as every command opens it; its warnings are printed
    when the command is done with it (an error prints only itself), and with `debug`
    what it read of the core."""
    from .dump import open_dump
    with open_dump(core, node=node, force=force) as dump:
        yield dump
        _warn(dump.warnings)
        if debug:
            _report_reads(dump)


@contextmanager
def _opened_pair(before: str, after: str, node: Optional[str], force: bool,
                 debug: bool = False) -> Iterator:
    """Two dumps of one process, opened as `_opened` opens one; when the command is done,
    the warnings of both are printed, each once, and `pair_warnings`."""
    from .dump import open_dump, pair_warnings
    from .errors import Warnings
    with open_dump(before, node=node, force=force) as old, \
            open_dump(after, node=node, force=force) as new:
        yield old, new
        merged = Warnings()
        for warning in [*old.warnings, *new.warnings, *pair_warnings(old, new)]:
            merged.add(warning)
        _warn(merged)
        if debug:
            _report_reads(old)
            _report_reads(new)


def _scanned(dump, quiet: bool, jobs: Optional[int], include_dead: bool = False,
             dominators: bool = False) -> None:
    """Scan the dump (and build its dominator tree), each with a progress bar."""
    bar = _Progress(not quiet, dump.path)
    try:
        dump.scan(progress=bar, include_dead=include_dead, jobs=jobs)
        if dominators:
            bar.restart("dominators")
            dump.dominators(progress=bar, jobs=jobs)
    finally:
        bar.close()


def _histogram(dump, quiet: bool, shapes: bool, include_dead: bool, jobs: Optional[int],
               retained: bool = False):
    _scanned(dump, quiet, jobs, include_dead, dominators=retained)
    return dump.histogram(shapes=shapes, include_dead=include_dead, jobs=jobs,
                          retained=retained)


node_option = click.option("--node", "node", metavar="PATH",
                           help="The node executable the core ran (default: the path the "
                                "core records).")
force_option = click.option("--force", is_flag=True,
                            help="Go on even if the node binary's build-id does not match.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
DEFAULT_TOP = 50  # table rows shown unless --top says otherwise
top_option = click.option(
    "--top", type=click.IntRange(min=0), metavar="N",
    help=f"Show the first N rows; 0 shows all. Default: {DEFAULT_TOP} in a table (a last "
         "line says how many more there are), all under --json.")
debug_option = click.option("--debug", is_flag=True,
                            help="Show tracebacks of errors, and how much of the core was read.")
quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="No progress bar (there is none under --json or when stderr "
                                 "is not a terminal either).")
jobs_option = click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
                           help="Threads that scan at once (default: every available core).")
shapes_option = click.option(
    "--shapes", is_flag=True,
    help="Split JS objects by their own property names, as mdb_v8's ::findjsobjects does "
         "(\"Object: id, genreIds\"); dictionary-mode objects are marked [dictionary].")
all_option = click.option(
    "--all", "include_dead", is_flag=True,
    help="Forensics: count every object on the heap pages, reachable or not, including "
         "dead ones V8 has already freed (inside free space and in young-generation "
         "pages). By default only what V8's roots reach is counted. Counts are then NOT "
         "what the process holds.")


kind_option = click.option(
    "--kind", metavar="KIND",
    help="Of the objects called NAME, those of this kind (object, closure, string, ...; "
         "the histogram's Kind column). Default: the most common kind among them, so that "
         "a class's name means its instances, not also the class itself.")


hops_option = click.option(
    "--hops", type=click.IntRange(min=1, max=64), default=16, show_default=True,
    help="At most this many links of each path are followed towards its root.")


SAMPLED_ROWS = 20  # rows `diff --samples` samples, biggest growth first


def census_options(command):
    """The options `histogram` and `diff` share, in the order --help lists them."""
    for option in reversed((top_option, shapes_option, all_option, json_option, quiet_option,
                            jobs_option, debug_option)):
        command = option(command)
    return command


class _Group(click.Group):
    """Click's group, with its usage errors said in one line like every other error."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            where = exc.ctx.command_path if getattr(exc, "ctx", None) else "v8scan"
            _error(" ".join(exc.format_message().split()) + f" (see '{where} --help')")
            sys.exit(EXIT_BAD_INPUT)
        except click.Abort:
            click.echo("v8scan: interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="v8scan")
def main() -> None:
    """Find memory leaks in Node.js from core dumps.

    Take two cores of a leaking process (gcore PID), then ask what is on the V8 heap and
    what grew:

    \b
      v8scan histogram core.1234
      v8scan diff core.1234 core.5678 --top 5 --samples 3
      v8scan instances core.1234 Session    # the addresses of one row's objects
      v8scan inspect core.1234 0x2f1e5a9c1e20
      v8scan retainers core.1234 Session    # what holds them, up to a root
      v8scan dominators core.1234           # what retains the most bytes
      v8scan info core.1234
      v8scan demo                      # try it on a bundled leaking service
    """


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@node_option
@force_option
@click.option("--sort", type=click.Choice(["size", "count", "retained"]), default="size",
              show_default=True,
              help="Order rows by total bytes, by object count, or (with --retained) by "
                   "retained bytes.")
@click.option("--retained", is_flag=True,
              help="Add each row's retained bytes: what its objects hold, alone, and would "
                   "free if they went (as DevTools' Retained Size of a constructor).")
@census_options
def histogram(core, node, force, sort, retained, top, shapes, include_dead, as_json, quiet,
              jobs, debug):
    """What is on the V8 heap of CORE: count, bytes, kind and constructor.

    Objects are grouped as a V8 heap snapshot groups them: JS objects by constructor name,
    functions by function name, everything else by V8 type. Bytes are shallow sizes.
    Only reachable objects are counted, as in V8's heap snapshot: what V8's roots (its
    own tables, global handles, handle scopes, the threads' stacks) reach. Objects that
    died since the last garbage collection are left out; --all counts them too.

    With --retained, a row's retained bytes are those of its objects and of everything
    only they hold (every path to it from the roots goes through one of them), each byte
    counted once: the object graph's dominator tree, as DevTools and memlab compute it.

    \b
    Examples:
      v8scan histogram core.1234 --top 20 --sort count
      v8scan histogram core.1234 --shapes --top 20
      v8scan histogram core.1234 --retained --sort retained --top 20
    """
    from .render import histogram_json, histogram_text

    top = _rows_shown(top, as_json)
    _check_retained(sort, retained, include_dead)

    def action():
        with _opened(core, node, force, debug) as dump:
            h = _histogram(dump, quiet or as_json, shapes, include_dead, jobs, retained)
        click.echo(histogram_json(h, sort, top, shapes) if as_json
                   else histogram_text(h, sort, top))
    _run(action, debug)


@main.command()
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@node_option
@force_option
@click.option("--sort", type=click.Choice(["count", "size", "retained"]), default="count",
              show_default=True,
              help="Order rows by growth in object count, in bytes, or (with --retained) in "
                   "retained bytes.")
@click.option("--retained", is_flag=True,
              help="Add each row's growth in retained bytes (as `histogram --retained`).")
@click.option("--samples", type=click.IntRange(min=1, max=1000), metavar="K",
              help=f"For each growing row shown (at most {SAMPLED_ROWS}), K addresses in "
                   "AFTER of its new objects, ready for `inspect` and `retainers`.")
@census_options
def diff(before, after, node, force, sort, retained, samples, top, shapes, include_dead,
         as_json, quiet, jobs, debug):
    """What grew on the V8 heap between two cores of one process, biggest growth first.
    Both censuses count reachable objects, as `histogram` does, so garbage not yet
    collected in either core is not mistaken for growth.

    With --retained, each row also shows how much its retained bytes grew: what its
    objects hold, alone (see `histogram --help`). A small object that comes to hold much
    (a cache, a Map) grows little in count and bytes but much in retained bytes.

    \b
    Examples:
      v8scan diff core.1234 core.5678 --top 10
      v8scan diff core.1234 core.5678 --shapes
      v8scan diff core.1234 core.5678 --top 5 --samples 3
      v8scan diff core.1234 core.5678 --retained --sort retained
    """
    from .census import diff as diff_histograms
    from .census import growth_samples
    from .render import diff_json, diff_text
    top = _rows_shown(top, as_json)
    _check_retained(sort, retained, include_dead)

    def action():
        with _opened_pair(before, after, node, force, debug) as (old, new):
            new.read_ahead()  # read from the disk while BEFORE is scanned
            d = diff_histograms(
                _histogram(old, quiet or as_json, shapes, include_dead, jobs, retained),
                _histogram(new, quiet or as_json, shapes, include_dead, jobs, retained))
            if samples:
                growing = [r.key for r in d.sorted(sort)[:top] if r.count_delta > 0]
                d.samples = growth_samples(old, new, growing[:SAMPLED_ROWS], samples, shapes,
                                           include_dead, jobs)
        click.echo(diff_json(d, sort, top, shapes) if as_json else diff_text(d, sort, top))
    _run(action, debug)


def _check_retained(sort: str, retained: bool, include_dead: bool) -> None:
    if sort == "retained" and not retained:
        raise click.UsageError("--sort retained needs --retained")
    if retained and include_dead:
        raise click.UsageError("--retained counts what live objects hold; it does not go "
                               "with --all")


def _rows_shown(top: Optional[int], as_json: bool) -> Optional[int]:
    """How many rows to show (None: all), from --top as given."""
    if top is None:
        return None if as_json else DEFAULT_TOP
    return top or None


ADDRESS = re.compile(r"^[+-]?0x[0-9a-f]+$", re.IGNORECASE)


def parse_address(text: str) -> int:
    """The address `text` names (0x..., as `instances` prints them). Raises V8ScanError
    for anything else, a negative number or one beyond 64 bits."""
    from .errors import V8ScanError
    if not ADDRESS.match(text.strip()):
        raise V8ScanError(f"{text!r} is not an address", hint="write it as 0x...")
    value = int(text.strip(), 16)
    if not 0 <= value < 1 << 64:
        raise V8ScanError(f"{text!r} is not an address: it is outside 0x0 to "
                          "0xffffffffffffffff")
    return value


def _nothing_called(name: str, kind: Optional[str] = None):
    from .errors import V8ScanError
    of_kind = f" of kind {kind!r}" if kind else ""
    return V8ScanError(f"no live object{of_kind} is called {name!r}",
                       hint="names and kinds are as `v8scan histogram` prints them")


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@click.argument("name")
@node_option
@force_option
@click.option("--shape", metavar="PROPS",
              help="Only JS objects with exactly these own properties, comma-separated "
                   "(\"id,user,payload\").")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Print only the first N addresses (all are counted).")
@kind_option
@json_option
@jobs_option
@debug_option
def instances(core, name, node, force, shape, limit, kind, as_json, jobs, debug):
    """Addresses and sizes of the live objects called NAME in CORE.

    NAME is a row's name as `histogram` prints it (a constructor, a function, a V8 type)
    or a kind (string, closure, ...); the objects listed are as many as the histogram's
    rows of that name and kind count. Feed an address to `retainers`.

    \b
    Examples:
      v8scan instances core.1234 RowDataPacket --limit 10
      v8scan instances core.1234 Object --shape id,genreIds
    """
    from .census import as_instances, object_count, objects_by_kind
    from .render import instances_json, instances_text

    def action():
        props = [p.strip() for p in shape.split(",")] if shape is not None else None
        with _opened(core, node, force, debug) as dump:
            by_kind = objects_by_kind(dump, name, props, jobs)  # every kind, in one pass
            chosen = kind or next(iter(by_kind), None)
            found = as_instances(by_kind.get(chosen, {}))
            if not found:
                raise _nothing_called(name, kind)
            others = {k: object_count(rows) for k, rows in by_kind.items() if k != chosen}
        click.echo(instances_json(core, name, found, others, limit) if as_json
                   else instances_text(name, found, others, limit))
    _run(action, debug)


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@click.argument("target")
@node_option
@force_option
@hops_option
@kind_option
@json_option
@jobs_option
@debug_option
def retainers(core, target, node, force, hops, kind, as_json, jobs, debug):
    """Who holds TARGET in CORE: every object called TARGET (as in `instances`), or the
    object at address TARGET (0x...), grouped by the path that holds it: a shortest path
    from V8's roots, read up from the target to the first closure's or module's context or
    the global object on it (or to the GC root itself: a handle scope, a global handle, a
    thread's stack). A target no root reaches is garbage V8 has not yet collected, and is
    reported as unreachable. Each path also says how many bytes its targets retain: their
    own and all only they hold (a target inside another target counts once, in it).

    \b
    Examples:
      v8scan retainers core.1234 RowDataPacket
      v8scan retainers core.1234 0x2f1e5a9c1e21
    """
    from .render import retainers_json, retainers_text
    from .retainers import retainer_paths, target_at, targets_named

    def action():
        looks_like_address = target.strip().lstrip("+-").lower().startswith("0x")
        address = parse_address(target) if looks_like_address else None
        with _opened(core, node, force, debug) as dump:
            if address is not None:
                targets = target_at(dump, address)
            else:
                targets = targets_named(dump, target, jobs, kind)
                if not len(targets):
                    raise _nothing_called(target, kind)
            paths = retainer_paths(dump, targets, hops, jobs)
        click.echo(retainers_json(core, target, paths) if as_json
                   else retainers_text(target, paths))
    _run(action, debug)


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@node_option
@force_option
@click.option("--top", type=click.IntRange(min=1, max=1000), default=10, show_default=True,
              metavar="N", help="How many objects to show.")
@hops_option
@json_option
@quiet_option
@jobs_option
@debug_option
def dominators(core, node, force, top, hops, as_json, quiet, jobs, debug):
    """The objects of CORE that retain the most bytes, each with a path that holds it.

    An object retains itself and everything only it holds: what would be freed if it
    went (every path from V8's roots to those objects passes through it). Retained sizes
    are computed from the object graph's dominator tree, as Chrome DevTools and memlab
    compute them from a heap snapshot. An object and the objects it holds are often
    listed one after the other: a Map, then its table.

    \b
    Examples:
      v8scan dominators core.1234
      v8scan dominators core.1234 --top 30 --json
    """
    from .render import dominators_json, dominators_text
    from .retainers import top_dominators

    def action():
        with _opened(core, node, force, debug) as dump:
            _scanned(dump, quiet or as_json, jobs, dominators=True)
            total = int(dump.dominators(jobs=jobs).retained[-1])
            found = top_dominators(dump, top, hops, jobs)
        click.echo(dominators_json(core, found, total) if as_json
                   else dominators_text(found, total))
    _run(action, debug)


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@click.option("--output", "-o", "output", required=True, metavar="FILE",
              help="Where to write the snapshot (FILE.heapsnapshot); - writes to stdout.")
@node_option
@force_option
@quiet_option
@jobs_option
@debug_option
def snapshot(core, output, node, force, quiet, jobs, debug):
    """Write CORE's live objects as a V8 heap snapshot, for Chrome DevTools (Memory tab,
    Load) and memlab: what v8.writeHeapSnapshot() would have written, from a process that
    could not write one.

    The objects are those `histogram` counts, named as it names them, with the references
    between them as V8 draws them (properties by name, elements by index, context
    variables, and the rest as internal or hidden edges); DevTools and memlab compute
    retained sizes and dominators from them. Ids depend on the object's address: an
    object that did not move has the same id in snapshots of two cores of one process,
    so memlab can compare them. The file is written under a temporary name and renamed
    when complete.

    \b
    Examples:
      v8scan snapshot core.1234 -o core.1234.heapsnapshot
      v8scan snapshot core.1234 -o - | gzip > core.1234.heapsnapshot.gz
    """
    from .graph.heapsnapshot import write_heap_snapshot, write_heap_snapshot_file
    where = os.path.dirname(os.path.abspath(output))
    if output != "-" and not (os.path.isdir(where) and os.access(where, os.W_OK)):
        raise click.UsageError(f"cannot write {output}: no such directory, or not writable")

    def action():
        with _opened(core, node, force, debug) as dump:
            _scanned(dump, quiet, jobs)
            bar = _Progress(not quiet and output != "-", dump.path)
            bar.restart("snapshot")
            try:
                if output == "-":
                    result = write_heap_snapshot(dump, sys.stdout.buffer, bar, jobs)
                    sys.stdout.buffer.flush()
                else:
                    result = write_heap_snapshot_file(dump, output, bar, jobs)
            finally:
                bar.close()
        if output != "-" and not quiet:
            from .render import printable
            click.echo(f"wrote {printable(output)}: {result.nodes:,} nodes, "
                       f"{result.edges:,} edges, {result.bytes:,} bytes", err=True)
    _run(action, debug)


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@click.argument("address")
@node_option
@force_option
@click.option("--depth", type=click.IntRange(min=0, max=20), default=2, show_default=True,
              help="How many levels of nested objects to print; deeper ones show their "
                   "address.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the value tree as JSON instead of as util.inspect would.")
@debug_option
def inspect(core, address, node, force, depth, as_json, debug):
    """Print the object at ADDRESS (0x..., as `instances` and `retainers` print them) in
    CORE the way util.inspect would: constructor, own properties, elements, string
    contents, numbers, Map and Set entries, Buffers as hex, functions with their script
    and line.

    \b
    Examples:
      v8scan inspect core.1234 0x2f1e5a9c1e20
      v8scan inspect core.1234 0x2f1e5a9c1e20 --depth 4 --json
    """
    from .render import inspect_json, inspect_text

    def action():
        parsed = parse_address(address)
        with _opened(core, node, force, debug) as dump:
            value = dump.value(parsed, depth)
        click.echo(inspect_json(core, parsed, value) if as_json else inspect_text(value))
    _run(action, debug)


@main.command()
@click.argument("core", type=click.Path(dir_okay=False))
@node_option
@force_option
@json_option
@debug_option
def info(core, node, force, as_json, debug):
    """Node.js and V8 versions, node binary, segments and V8 heap pages of CORE.

    \b
    Example:
      v8scan info core.1234
    """
    from .render import info_json, info_text

    def action():
        with _opened(core, node, force, debug) as dump:
            details = dump.info()
        click.echo(info_json(details) if as_json else info_text(details))
    _run(action, debug)


def _explain_leak(old, new, leader, seconds: float, keep: bool) -> None:
    """The demo's last step: one new object of the leading row, and what holds them all,
    with the commands that show them where the cores are kept."""
    import numpy as np

    from .census import objects_by_row, sample_new
    from .render import inspect_text, printable, retainers_text
    from .retainers import retainer_paths

    click.echo(f"\nThe leak: {printable(leader.name)} grew by {leader.count_delta:+,} objects "
               f"({leader.size_delta:+,} bytes) in {seconds:g} s.")
    before, targets = (objects_by_row(dump, lambda key: key == leader.key)
                       .get(leader.key, (np.zeros(0, dtype=np.uint64),))[0]
                       for dump in (old, new))
    sample = sample_new(before, targets, 1)
    core = shlex.quote(new.path)
    if sample:
        shown = f" (v8scan inspect {core} {sample[0]:#x})" if keep else ""
        click.echo(f"\nOne of the new ones{shown}:\n")
        click.echo(inspect_text(new.value(sample[0])))
    shown = f" (v8scan retainers {core} {printable(shlex.quote(leader.name))})" if keep else ""
    click.echo(f"\nWhat holds them{shown}:\n")
    click.echo(retainers_text(leader.name, retainer_paths(new, targets)))
    if not keep:
        click.echo("\n(The cores are deleted now; with --keep they stay, for `v8scan inspect` "
                   "and `v8scan retainers` to go on from here.)")


@main.command()
@click.option("--seconds", type=click.FloatRange(min=0.5), default=3.0, show_default=True,
              help="Time between the two cores.")
@click.option("--keep", is_flag=True, help="Keep the two cores (printed at the end).")
@top_option
@debug_option
def demo(seconds, top, keep, debug):
    """Run a bundled leaking Node.js service, take two cores, and show what leaks.

    Needs node and gdb (gcore). The cores (about 1 GB each) go to a temporary directory
    that is removed afterwards unless --keep is given.

    \b
    Example:
      v8scan demo --seconds 5
    """
    from .census import diff as diff_histograms
    from .demo import run_demo
    from .render import diff_text, histogram_text

    def action():
        workdir = tempfile.mkdtemp(prefix="v8scan-demo-")
        try:
            first, second = run_demo(workdir, seconds, lambda m: click.echo(f"* {m}"))
            with _opened_pair(first, second, None, False) as (old, new):
                before = _histogram(old, False, False, False, None)
                after = _histogram(new, False, False, False, None)
                click.echo(f"\nHistogram of {second} (top {top or 15} by bytes):\n")
                click.echo(histogram_text(after, "size", top or 15))
                d = diff_histograms(before, after)
                click.echo(f"\nWhat grew in {seconds:g} s (top {top or 10} by count):\n")
                click.echo(diff_text(d, "count", top or 10))
                leaders = [r for r in d.sorted("count") if r.kind == "object"]
                if leaders:
                    _explain_leak(old, new, leaders[0], seconds, keep)
        finally:
            if keep:
                click.echo(f"\ncores kept in {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    _run(action, debug)


if __name__ == "__main__":
    main()
