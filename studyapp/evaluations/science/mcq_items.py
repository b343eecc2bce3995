"""MedQA-style multiple-choice items from JSONL. Pure reading and validation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

CONTEXT_FIELDS = ("misleading_context", "alternative_context", "edge_case_context")


class McqImportError(ValueError):
    """The file cannot be used; the message names the line and the problem."""


@dataclass(frozen=True)
class McqQuestion:
    id: str
    question: str
    options: dict[str, str]
    gold: str
    contexts: dict[str, str] = field(default_factory=dict)


def parse_mcq_line(line: str, number: int) -> McqQuestion:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise McqImportError(f"line {number}: not JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise McqImportError(f"line {number}: not an object")
    options = row.get("options")
    gold = row.get("answer_idx")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise McqImportError(f"line {number}: no question")
    if not isinstance(options, dict) or sorted(options) != ["A", "B", "C", "D"]:
        raise McqImportError(f"line {number}: options must be A, B, C and D")
    if not all(isinstance(v, str) and v.strip() for v in options.values()):
        raise McqImportError(f"line {number}: every option needs a text")
    if gold not in options:
        raise McqImportError(f"line {number}: answer_idx must be one of the options")
    identifier = row.get("realidx", row.get("id", number))
    contexts = {k: row[k] for k in CONTEXT_FIELDS if isinstance(row.get(k), str) and row[k]}
    return McqQuestion(
        id=str(identifier),
        question=question,
        options={k: options[k] for k in sorted(options)},
        gold=gold,
        contexts=contexts,
    )


def read_mcq_jsonl(path: Path, *, limit: int | None = None) -> list[McqQuestion]:
    if not path.is_file():
        raise McqImportError(f"{path} not found")
    questions: list[McqQuestion] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            question = parse_mcq_line(line, number)
            if question.id in seen:
                raise McqImportError(f"line {number}: id {question.id} twice")
            seen.add(question.id)
            questions.append(question)
            if limit is not None and len(questions) >= limit:
                break
    if not questions:
        raise McqImportError(f"{path.name} holds no questions")
    return questions


def file_source(path: Path) -> str:
    return f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
