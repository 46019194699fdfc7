"""Benchmark: the mechanical gate on its corpus (`tests/fixtures/designs`, see `tests/gate_corpus.py`): findings on
each complete design document in each template it must pass (goal 0), and the hollow variants made from them that
the gate catches with the finding each should raise (goal all). Not a test (`tests/test_gate_corpus.py` is): run it
by hand for the figures,

    .venv/bin/python bench/gate_corpus.py
    .venv/bin/python bench/gate_corpus.py --root ../some-repo --template docs/templates/lld.md docs/lld/*.md

The second form gates documents of your own, in a repository's root, against the built-in template and, when
given, the repository's own: the findings are printed, nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gate_corpus import documents, gate, make_repository, templates, variants

from agentos_jobs.core.settings import load_settings
from agentos_jobs.design.template import load_template, parse_template


def corpus() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_repository(Path(tmp))
        found = templates(root)
        print("findings per complete document (goal 0):")
        for doc in documents():
            counts = ", ".join(f"{name}: {len(gate(doc.text, found[name], root))}" for name in doc.templates)
            print(f"  {doc.name:40} {counts}")
        caught, made = Counter[str](), Counter[str]()
        for doc in documents():
            template = found[doc.templates[0]]
            for variant in variants(doc, template):
                kind = variant.kind.split(" (")[0]
                made[kind] += 1
                caught[kind] += any(f.startswith(variant.expected) for f in gate(variant.text, template, root))
        print("hollow variants caught (goal all):")
        for kind in made:
            print(f"  {kind:40} {caught[kind]}/{made[kind]}")
        print(f"  {'all':40} {sum(caught.values())}/{sum(made.values())}")


def own_documents(root: Path, template: str | None, paths: list[Path]) -> None:
    chosen = {"built-in": load_template(load_settings(root, {}), "lld")}
    if template:
        chosen[template] = parse_template((root / template).read_text(encoding="utf-8"), template)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for name, found in chosen.items():
            findings = gate(text, found, root)
            print(f"{path.name} against {name}: {len(findings)} finding(s)")
            for finding in findings:
                print(f"  - {finding}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="*", type=Path, help="design documents of your own to gate")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository they describe")
    parser.add_argument("--template", help="the repository's own template, from its root")
    args = parser.parse_args()
    if args.documents:
        own_documents(args.root.resolve(), args.template, args.documents)
    else:
        corpus()


if __name__ == "__main__":
    main()
