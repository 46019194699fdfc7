"""The gate on a corpus of design documents in the shapes real repositories use (`gate_corpus.py`): no finding on
a complete one, in the template it follows (and in the built-in one for a template shaped like it), and every
hollow variant of each caught by the finding it should raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from gate_corpus import Document, documents, gate, make_repository, templates, variants

CORPUS = documents()


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repository(tmp_path_factory.mktemp("repository"))


def test_the_corpus_holds_the_shapes_real_repositories_use() -> None:
    assert len(CORPUS) >= 12
    assert {doc.templates[0] for doc in CORPUS} == {"builtin", "feature-lld", "rfc", "adr"}
    text = "\n".join(doc.text for doc in CORPUS)
    for shape in ("### 2.5 Logic Flow (Pseudocode)", "## 7. Security Considerations", "## 7. Threat Model",
                  "### 10.3 Manual Tests (Only If Unavoidable)", "N/A - All scenarios automated.", "(REQ-1)",
                  "\n1. **REQ-1:**", "\n- **REQ-1:**", "\n1. A clock", "| 010 | 1 |", "| 030 | 3-4 |",
                  "| File | Type |", "| Path | Action |", "| File | Change |", "Add (Directory)",
                  "## Appendix: Review Log", "## Appendix A: Rollout", "- [x] "):
        assert shape in text, shape


@pytest.mark.parametrize("doc", CORPUS, ids=[doc.name for doc in CORPUS])
def test_a_complete_design_has_no_finding(repository: Path, doc: Document) -> None:
    found = templates(repository)
    for name in doc.templates:
        assert gate(doc.text, found[name], repository) == [], name


@pytest.mark.parametrize("doc", CORPUS, ids=[doc.name for doc in CORPUS])
def test_every_hollow_variant_is_caught(repository: Path, doc: Document) -> None:
    template = templates(repository)[doc.templates[0]]
    made = list(variants(doc, template))
    missed = [(v.kind, v.expected) for v in made
              if not any(f.startswith(v.expected) for f in gate(v.text, template, repository))]
    assert missed == []
    kinds = {v.kind for v in made}
    assert {"section deleted", "requirement no scenario proves", "change type that is none"} <= kinds
    assert any(kind.startswith("placeholder (TBD") for kind in kinds)


def test_the_hollow_variants_include_a_parenthesised_placeholder_and_a_comment_only_section(repository: Path
                                                                                            ) -> None:
    kinds = {v.kind for doc in CORPUS for v in variants(doc, templates(repository)[doc.templates[0]])}
    assert {"placeholder ((TBD))", "placeholder (<!--)"} <= kinds
