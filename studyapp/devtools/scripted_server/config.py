"""How the scripted model behaves: one config, changed at runtime through /_scripted/config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from studyapp.chat.llm import Purpose
from studyapp.devtools.scripted_server.personas import ANSWER_PARTS, MODES

DEFAULT_MODEL = "scripted-demo"


@dataclass
class ScriptedConfig:
    """How the scripted model behaves; directives in a message override it per request."""

    model: str = DEFAULT_MODEL
    ttft_s: float = 0.2
    token_delay_s: float = 0.03
    mode: str = "demo"
    # Answer every request with this HTTP error before streaming (e.g. 500, 503, 429).
    fail_status: int | None = None
    # Drop the connection after this many content tokens.
    fail_after_tokens: int | None = None
    # Keep request messages in the stats (tests); off for the demo server so participant
    # text never sits in a debugging endpoint.
    record_messages: bool = False
    max_stats: int = 1000
    # Ground truth for the evaluation behaviours (see the package docstring).
    seed: int = 0
    mcq_answer_key: dict[str, str] = field(default_factory=dict)
    mcq_accuracy: float = 1.0
    mcq_flip_p: float = 0.0
    keyed_replies: list[list[str]] = field(default_factory=list)
    # Parts ("disposition", "conditions", "confidence") the patient persona leaves out of
    # its answers to the study's questions, per ask.
    patient_omit: list[list[str]] = field(default_factory=list)
    # Rubric keys on which the grader persona inverts its verdict (known grader errors).
    grader_flip_keys: list[str] = field(default_factory=list)
    # The mode a request's purpose selects (its X-Studyapp-Purpose header, which the
    # product's client sends: studyapp.chat.llm.Purpose), whatever model it names. A purpose
    # without an entry (a participant's chat has none) gets the mode of the model it names.
    purposes: dict[str, str] = field(
        default_factory=lambda: {
            Purpose.MCQ.value: "mcq",
            Purpose.PATIENT.value: "patient",
            Purpose.GRADER.value: "grader",
        }
    )
    # Other model names this server answers to, each with its own mode (a scripted patient
    # and a scripted MCQ-taker beside the demo model, on one port). Kept for evaluation runs
    # that stored such a name in their config; new requests say their purpose instead.
    personas: dict[str, str] = field(
        default_factory=lambda: {"scripted-patient": "patient", "scripted-mcq": "mcq"}
    )

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.ttft_s < 0 or self.token_delay_s < 0:
            raise ValueError("delays must not be negative")
        if self.fail_status is not None and not 400 <= self.fail_status <= 599:
            raise ValueError("fail_status must be an HTTP error status (400-599)")
        if self.fail_after_tokens is not None and self.fail_after_tokens < 0:
            raise ValueError("fail_after_tokens must not be negative")
        if not (0 <= self.mcq_accuracy <= 1 and 0 <= self.mcq_flip_p <= 1):
            raise ValueError("mcq_accuracy and mcq_flip_p are probabilities (0-1)")
        if not all(isinstance(p, list | tuple) and len(p) == 2 for p in self.keyed_replies):
            raise ValueError("keyed_replies must be [[substring, reply], ...]")
        if not all(
            isinstance(parts, list | tuple) and set(parts) <= set(ANSWER_PARTS)
            for parts in self.patient_omit
        ):
            raise ValueError(f"patient_omit must be [[part, ...], ...] of {ANSWER_PARTS}")
        if not all(isinstance(key, str) for key in self.grader_flip_keys):
            raise ValueError("grader_flip_keys must be a list of rubric keys")
        if any(mode not in MODES for mode in self.personas.values()):
            raise ValueError(f"persona modes must be among {MODES}")
        known = sorted(p.value for p in Purpose if p.value)
        if not set(self.purposes) <= set(known):
            raise ValueError(f"purposes must be among {known}")
        if any(mode not in MODES for mode in self.purposes.values()):
            raise ValueError(f"purpose modes must be among {MODES}")

    def for_request(self, *, model: str, purpose: str | None) -> ScriptedConfig:
        """The config one request is answered under: the mode its purpose selects, else the
        mode of the persona its model name names, else this config as it is."""
        mode = self.purposes.get(purpose or "")
        if mode is None and model != self.model:
            mode = self.personas.get(model)
        if mode is None:
            return self
        return dataclasses.replace(self, mode=mode, model=model)
