"""Write the API reference pages (docs/api/*.md) from the public names.

Every name in `rlblocks.__all__` is grouped by the private module that defines it;
every subpackage (`rlblocks.replay`, ...) gets a page of its own `__all__`.

    python docs/gen_api.py          # rewrite docs/api/
    python docs/gen_api.py --check  # exit 1 if docs/api/ is stale
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import re
import sys

API_DIR = pathlib.Path(__file__).parent / "api"
MKDOCS_YML = pathlib.Path(__file__).parents[1] / "mkdocs.yml"
NAV = re.compile(r"(      # api-nav-start\n).*?(      # api-nav-end\n)", re.S)

# Private module -> (page slug, page title), in reading order.
TOPICS = {
    "value_learning": ("value_learning", "Value learning"),
    "value_losses": ("value_learning", "Value learning"),
    "losses": ("losses", "Losses and helpers"),
    "multistep": ("multistep", "Multistep returns"),
    "vtrace": ("multistep", "Multistep returns"),
    "multistep_td": ("multistep", "Multistep returns"),
    "sequence_losses": ("multistep", "Multistep returns"),
    "policy_gradients": ("policy_gradients", "Policy gradients"),
    "exploration": ("exploration", "Exploration"),
    "schedules": ("schedules", "Schedules"),
    "targets": ("targets", "Target networks"),
    "distributional": ("distributional", "Distributional"),
    "quantile": ("distributional", "Distributional"),
    "distributional_losses": ("distributional", "Distributional"),
    "transforms": ("transforms", "Transforms"),
    "value_transforms": ("transforms", "Transforms"),
    "nonlinear_bellman": ("nonlinear_bellman", "Non-linear Bellman"),
}
SUBPACKAGES = {
    "replay": "Replay buffers",
    "distributed": "Distributed (MPI)",
    "agents": "Agents",
    "envs": "JAX environments",
    "train": "Training runtime",
}


def _topic(module: str) -> tuple[str, str]:
    leaf = module.rsplit(".", 1)[-1]
    return TOPICS.get(leaf, ("misc", "Other"))


def _page(title: str, qualified: list[str], intro: str = "") -> str:
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro, ""]
    for name in qualified:
        lines += [f"::: {name}", ""]
    return "\n".join(lines)


def build_pages() -> dict[str, str]:
    """Return {file name: markdown} for every API page and the index."""
    sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
    rlb = importlib.import_module("rlblocks")
    groups: dict[str, tuple[str, list[str]]] = {}
    for name in rlb.__all__:
        slug, title = _topic(getattr(rlb, name).__module__)
        groups.setdefault(slug, (title, []))[1].append(f"rlblocks.{name}")
    order = [*dict.fromkeys(slug for slug, _ in TOPICS.values()), "misc"]
    pages, index = {}, ["# API reference", "", "## Primitives", ""]
    for slug in [s for s in order if s in groups]:
        title, names = groups[slug]
        pages[f"{slug}.md"] = _page(title, names)
        index.append(f"- [{title}]({slug}.md)")
    index += ["", "## Packages", ""]
    for sub, title in SUBPACKAGES.items():
        try:
            mod = importlib.import_module(f"rlblocks.{sub}")
        except ImportError:
            continue
        if not hasattr(mod, "__all__"):
            continue
        names = [f"rlblocks.{sub}.{n}" for n in mod.__all__]
        pages[f"{sub}.md"] = _page(title, names, f"`import rlblocks.{sub}`")
        index.append(f"- [{title}]({sub}.md)")
    pages["index.md"] = "\n".join(index) + "\n"
    return pages


def nav_yaml(pages: dict[str, str]) -> str:
    """Return mkdocs.yml with the API entries of the nav matching `pages`."""
    entries = ["      - api/index.md\n"] + [
        f"      - api/{name}\n" for name in pages if name != "index.md"
    ]
    text = MKDOCS_YML.read_text()
    return NAV.sub(lambda m: m.group(1) + "".join(entries) + m.group(2), text)


def main(argv=None) -> int:
    """Write or check the pages; return a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    pages = build_pages()
    current = {p.name: p.read_text() for p in API_DIR.glob("*.md")}
    nav = nav_yaml(pages)
    if args.check:
        stale = sorted({name for name, _ in set(pages.items()) ^ set(current.items())})
        if stale or nav != MKDOCS_YML.read_text():
            print("stale API pages or mkdocs.yml nav:", stale)
            return 1
        return 0
    MKDOCS_YML.write_text(nav)
    API_DIR.mkdir(exist_ok=True)
    for name in set(current) - set(pages):
        (API_DIR / name).unlink()
    for name, text in pages.items():
        (API_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
