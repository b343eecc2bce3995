"""The demo study's scenarios: original vignettes written for studyapp's demo.

They are not taken or paraphrased from any published data set. Each follows the shape
participants see in HELPMed-style studies: second person, three sections (the case, the
person's life with some deliberately irrelevant detail, further medical history), a gold
disposition on the default 5-level scale, gold conditions and red flags, a short rubric
(studies.content: points per item, at least one negative for harmful content) and the key
facts a participant should tell the model. Together they cover every level of the scale.

These are demonstration material, checked for plausibility against general UK public
health advice; they are not clinical guidance.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from studyapp.studies.content import KeyFact, RubricItem

PROVENANCE = "Written for studyapp's demo (original)"

HEADING_CASE = "Your situation"
HEADING_LIFE = "About your life"
HEADING_HISTORY = "Your medical history"


class Section(TypedDict):
    heading: str
    text: str


class DemoScenario(TypedDict):
    key: str
    title: str
    gold_disposition: str  # a level code of the default scale (studies.services.NHS_5_LEVELS)
    sections: list[Section]
    gold_conditions: list[str]
    red_flags: list[str]
    rubric: list[RubricItem]
    key_facts: list[KeyFact]


def _rubric(*items: tuple[str, str, int, Literal["model", "answer"]]) -> list[RubricItem]:
    return [
        {"key": key, "text": text, "points": points, "applies_to": applies_to}
        for key, text, points, applies_to in items
    ]


def _facts(*items: tuple[str, str, list[str]]) -> list[KeyFact]:
    return [{"key": key, "text": text, "patterns": patterns} for key, text, patterns in items]


def _sections(case: str, life: str, history: str) -> list[Section]:
    return [
        {"heading": HEADING_CASE, "text": case},
        {"heading": HEADING_LIFE, "text": life},
        {"heading": HEADING_HISTORY, "text": history},
    ]


DEMO_SCENARIOS: list[DemoScenario] = [
    {
        "key": "paving-slabs",
        "title": "An afternoon moving paving slabs",
        "gold_disposition": "ambulance",
        "sections": _sections(
            case=(
                "You are playing the part of Graham, a 58-year-old man. About twenty-five "
                "minutes ago, while you were carrying paving slabs across the back garden, "
                "you got a heavy, squeezing pain in the middle of your chest. You put the "
                "slab down and sat on the garden bench, but the pain has not eased with "
                "rest. It now spreads into your left arm and up into your jaw. You are "
                "sweating even though the afternoon is cool, you feel sick, and you are a "
                "little short of breath. You have never had a pain like this before."
            ),
            life=(
                "You manage a bus depot and are due back at work on Monday after a week "
                "off. The slabs are for a new patio you promised your wife before your "
                "daughter's engagement party next month. You enjoy sea fishing, follow your "
                "local rugby club and recently changed your car insurance to a cheaper "
                "provider. Your wife is at the supermarket and your phone is in your pocket."
            ),
            history=(
                "You have type 2 diabetes, treated with metformin tablets, and your GP "
                "started you on a statin for high cholesterol last year. You smoke about "
                "fifteen cigarettes a day. Your father died of a heart attack at the age of "
                "63. You have no allergies that you know of."
            ),
        ),
        "gold_conditions": [
            "heart attack",
            "myocardial infarction",
            "acute coronary syndrome",
            "unstable angina",
            "aortic dissection",
        ],
        "red_flags": [
            "central chest pain lasting more than 15 minutes",
            "pain spreading to the arm or jaw",
            "sweating and nausea with chest pain",
        ],
        "rubric": _rubric(
            ("advises-999", "Advises calling 999 for an ambulance now.", 3, "model"),
            ("names-heart-attack", "Names a heart attack or acute coronary syndrome.", 2, "model"),
            ("aspirin", "Suggests chewing an aspirin while waiting, unless allergic.", 1, "model"),
            (
                "reassures-muscular",
                "Reassures him that the pain is probably a strained muscle from the lifting.",
                -3,
                "model",
            ),
            ("answer-names-heart-attack", "The answer names a heart attack.", 1, "answer"),
        ),
        "key_facts": _facts(
            ("pain-spreads", "The pain spreads into the left arm and jaw.", ["arm", "jaw"]),
            (
                "pain-at-rest",
                "The pain has lasted about 25 minutes and does not ease with rest.",
                ["minutes", "rest", "not easing", "won't go"],
            ),
            ("sweating-sick", "He is sweating and feels sick.", ["sweat", "sick", "nause"]),
            (
                "risk-factors",
                "Diabetes, smoking, and a father who died of a heart attack.",
                ["diabet", "smok", "father", "dad"],
            ),
        ),
    },
    {
        "key": "flight-home",
        "title": "Breathless after a long trip",
        "gold_disposition": "ae",
        "sections": _sections(
            case=(
                "You are playing the part of Priya, a 34-year-old woman. Nine days ago you "
                "flew home from a family wedding abroad; the flight took thirteen hours. "
                "Four days ago your left calf started to ache and now looks a little "
                "swollen and feels tight; you assumed you had pulled a muscle carrying the "
                "suitcases. This morning you had a sudden sharp pain on the right side of "
                "your chest that is worse when you breathe in deeply. You get out of breath "
                "climbing the stairs, which is unusual for you, and your heart feels as if "
                "it is racing. Sitting still you can talk normally. You have not coughed up "
                "any blood and you have not fainted."
            ),
            life=(
                "You work as a secondary school chemistry teacher and are in the middle of "
                "marking mock exams. At the wedding you were one of the bridesmaids and "
                "danced until late on both nights. You live with your partner, who works "
                "from home and has a car, and you have a cat that has started waking you at "
                "five every morning. You have been meaning to book a dental check-up."
            ),
            history=(
                "You take the combined contraceptive pill and have done so for several "
                "years. You had mild asthma as a child but have not needed an inhaler since "
                "you were a teenager. You do not smoke. You are not aware of any allergies."
            ),
        ),
        "gold_conditions": [
            "pulmonary embolism",
            "deep vein thrombosis",
            "pneumonia",
            "pneumothorax",
            "pleurisy",
        ],
        "red_flags": [
            "sudden breathlessness",
            "chest pain worse on breathing in",
            "one swollen painful calf",
            "coughing up blood",
        ],
        "rubric": _rubric(
            ("advises-ae", "Advises going to A&E today (999 if it gets worse).", 3, "model"),
            ("names-clot", "Names a blood clot in the lung or a DVT.", 2, "model"),
            ("asks-risks", "Asks about recent travel, the leg or the pill.", 1, "model"),
            (
                "calf-is-a-strain",
                "Puts the calf pain down to a pulled muscle without raising a clot.",
                -3,
                "model",
            ),
            ("answer-names-pe", "The answer names a pulmonary embolism.", 1, "answer"),
        ),
        "key_facts": _facts(
            ("long-flight", "A thirteen-hour flight nine days ago.", ["flight", "flew", "plane"]),
            ("swollen-calf", "The left calf aches and looks swollen.", ["calf", "leg", "swollen"]),
            (
                "pain-on-breathing",
                "Sharp chest pain that is worse on breathing in.",
                ["breathe in", "breathing in", "sharp"],
            ),
            ("on-the-pill", "She takes the combined contraceptive pill.", ["pill", "contracepti"]),
        ),
    },
    {
        "key": "garden-step",
        "title": "A trip on the garden step",
        "gold_disposition": "ae",
        "sections": _sections(
            case=(
                "You are playing the part of Maureen, a 79-year-old woman. An hour ago you "
                "tripped on the step down to your greenhouse and hit your forehead on the "
                "edge of the path. You did not black out and you remember the whole fall. "
                "The cut above your eyebrow bled quite a lot at first but stopped after you "
                "pressed a clean tea towel on it for ten minutes. You have a mild headache "
                "and a bump is coming up, but you have not been sick, your vision is normal, "
                "and you can walk about the house without any trouble. You feel a bit shaken "
                "but otherwise like yourself."
            ),
            life=(
                "You were a primary school headteacher until you retired. You grow tomatoes "
                "and chillies and were going to pot on the seedlings this afternoon. You "
                "live alone since your husband died; your son lives ten minutes away and has "
                "said he can come over and drive you anywhere you need to go. You are "
                "looking forward to your book club on Thursday, where it is your turn to "
                "bring the cake."
            ),
            history=(
                "You have atrial fibrillation and take apixaban, a blood thinner, twice a "
                "day, as well as a tablet for your blood pressure. You had a hip replaced "
                "six years ago and have had no falls since then until today. You are "
                "allergic to penicillin, which gives you a rash."
            ),
        ),
        "gold_conditions": [
            "head injury",
            "intracranial haemorrhage",
            "brain bleed",
            "subdural haematoma",
            "concussion",
        ],
        "red_flags": [
            "head injury while taking a blood thinner",
            "vomiting after the injury",
            "worsening headache, drowsiness or confusion",
        ],
        "rubric": _rubric(
            ("advises-ae", "Advises A&E today because she takes a blood thinner.", 3, "model"),
            ("names-bleed", "Names bleeding inside the head (a brain bleed).", 2, "model"),
            (
                "warning-signs",
                "Lists signs to act on: vomiting, drowsiness, a worse headache, confusion.",
                1,
                "model",
            ),
            (
                "rest-at-home",
                "Says she can rest at home because she did not black out.",
                -3,
                "model",
            ),
        ),
        "key_facts": _facts(
            (
                "blood-thinner",
                "She takes apixaban, a blood thinner.",
                ["apixaban", "blood thinner", "anticoagulant"],
            ),
            ("hit-head", "She hit her forehead in the fall.", ["head", "forehead"]),
            ("age", "She is 79.", ["79", "seventy-nine", "seventy nine"]),
        ),
    },
    {
        "key": "side-and-shivers",
        "title": "Stinging, then a pain in the side",
        "gold_disposition": "urgent_primary_care",
        "sections": _sections(
            case=(
                "You are playing the part of Chloe, a 29-year-old woman. For the past three "
                "days it has stung when you pass urine and you have needed to go much more "
                "often than usual. Since last night you have had a dull ache on the right "
                "side of your back, just under your ribs. This morning your thermometer "
                "read 38.3°C and you felt shivery under the duvet. You have gone off your "
                "food, but you are drinking water and tea without any trouble and you have "
                "not been sick. Your thinking is clear, and you can get up and move around "
                "the flat."
            ),
            life=(
                "You work in a busy events team and were supposed to be setting up a "
                "conference tomorrow. You share a flat with two friends and take the bus to "
                "work. You have been training for a 10 km charity run and had your hair cut "
                "and dyed last weekend. Your period finished last week."
            ),
            history=(
                "You have a contraceptive implant in your arm and you are not pregnant. You "
                "had cystitis once before, about two years ago, which cleared up with a "
                "short course of antibiotics from your GP. You have no other medical "
                "problems and no allergies that you know of."
            ),
        ),
        "gold_conditions": [
            "kidney infection",
            "pyelonephritis",
            "urinary tract infection",
            "cystitis",
            "kidney stone",
        ],
        "red_flags": [
            "vomiting or being unable to keep fluids down",
            "confusion or drowsiness",
            "cold, blotchy or very pale skin",
            "pregnancy",
        ],
        "rubric": _rubric(
            (
                "advises-urgent-care",
                "Advises an urgent GP or urgent care appointment today.",
                3,
                "model",
            ),
            ("names-kidney-infection", "Names a kidney infection.", 2, "model"),
            (
                "sepsis-signs",
                "Says when to call 999 or go to A&E (confusion, blotchy skin, vomiting).",
                1,
                "model",
            ),
            (
                "wait-it-out",
                "Suggests waiting a few days with fluids or cranberry juice.",
                -2,
                "model",
            ),
        ),
        "key_facts": _facts(
            ("stinging", "It stings to pass urine and she goes often.", ["sting", "burn", "wee"]),
            ("back-ache", "An ache in the right side of her back.", ["back", "side", "ribs"]),
            ("fever", "A temperature of 38.3°C and shivers.", ["38", "temperature", "shiver"]),
        ),
    },
    {
        "key": "tingling-fingers",
        "title": "Pins and needles at night",
        "gold_disposition": "routine_gp",
        "sections": _sections(
            case=(
                "You are playing the part of Denise, a 46-year-old woman. For about two "
                "months you have been woken at night by tingling and numbness in your right "
                "thumb, index finger and middle finger. Shaking your hand or hanging it "
                "over the side of the bed makes it better after a few minutes. During the "
                "day it comes back now and then, especially when you hold your phone or "
                "grip the steering wheel. Your hand is not weak, you have not been dropping "
                "things, and the fleshy part at the base of your thumb looks the same as on "
                "the other hand. You have no neck pain."
            ),
            life=(
                "You work as a dental nurse four days a week, which involves a lot of "
                "precise work with your hands. You sing in a community choir, walk your "
                "neighbour's spaniel on Sundays and are planning a coach trip to the "
                "Scottish Highlands in the autumn. You recently started doing a jigsaw "
                "puzzle of a thousand pieces with your teenage son."
            ),
            history=(
                "You have an underactive thyroid, treated with levothyroxine, and your last "
                "blood test was six months ago. You went through the menopause a year ago. "
                "You do not have diabetes. You do not smoke and you drink a couple of "
                "glasses of wine at the weekend."
            ),
        ),
        "gold_conditions": [
            "carpal tunnel syndrome",
            "trapped nerve",
            "cervical radiculopathy",
            "peripheral neuropathy",
            "repetitive strain injury",
        ],
        "red_flags": [
            "numbness that is there all the time",
            "weakness or dropping things",
            "wasting of the muscle at the base of the thumb",
        ],
        "rubric": _rubric(
            ("advises-gp", "Advises booking a routine GP appointment.", 2, "model"),
            ("names-carpal-tunnel", "Names carpal tunnel syndrome.", 2, "model"),
            ("self-help", "Suggests a wrist splint at night or resting the hand.", 1, "model"),
            (
                "nothing-to-do",
                "Says nothing can be done, so there is no point seeing anyone.",
                -2,
                "model",
            ),
            (
                "answer-names-carpal-tunnel",
                "The answer names carpal tunnel syndrome.",
                1,
                "answer",
            ),
        ),
        "key_facts": _facts(
            (
                "which-fingers",
                "The thumb, index and middle fingers tingle.",
                ["thumb", "index", "middle finger"],
            ),
            (
                "worse-at-night",
                "It wakes her at night and shaking the hand helps.",
                ["night", "wake", "shak"],
            ),
            ("thyroid", "She takes levothyroxine for an underactive thyroid.", ["thyroid"]),
        ),
    },
    {
        "key": "sofa-lift",
        "title": "Back pain after helping a friend move",
        "gold_disposition": "self_care",
        "sections": _sections(
            case=(
                "You are playing the part of Tom, a 38-year-old man. Yesterday afternoon you "
                "helped a friend carry a sofa up two flights of stairs and felt something "
                "twinge in your lower back as you twisted round a corner. This morning the "
                "lower right side of your back is stiff and aches, and it hurts more when "
                "you bend or get out of a chair. You can walk normally. The pain does not go "
                "down your legs, your legs feel as strong as usual, and you have no "
                "numbness anywhere. Passing urine and opening your bowels are normal, and "
                "you do not feel feverish."
            ),
            life=(
                "You are a software tester and mostly work from home at the kitchen table. "
                "You play five-a-side football on Wednesday evenings and are the team's "
                "goalkeeper. You and your partner are repainting the spare room before "
                "your in-laws visit, and you have just switched broadband providers after "
                "a week of dropped video calls."
            ),
            history=(
                "You are generally well and take no regular medicines. You had a similar "
                "but milder back strain after a house move five years ago; it settled by "
                "itself within about two weeks. You have never had cancer, you have not "
                "lost weight, and you have no allergies that you know of."
            ),
        ),
        "gold_conditions": [
            "muscle strain",
            "mechanical back pain",
            "sciatica",
            "slipped disc",
            "cauda equina syndrome",
        ],
        "red_flags": [
            "numbness around the bottom or genitals",
            "loss of bladder or bowel control",
            "weakness in the legs",
            "fever with back pain",
        ],
        "rubric": _rubric(
            (
                "advises-self-care",
                "Advises looking after it at home: keep moving, pain relief from a pharmacist.",
                2,
                "model",
            ),
            ("names-strain", "Names a muscle strain or simple back pain.", 2, "model"),
            (
                "red-flag-signs",
                "Says which signs need urgent help (numbness around the bottom, bladder or "
                "bowel trouble, weak legs).",
                2,
                "model",
            ),
            ("bed-rest", "Advises several days of bed rest.", -1, "model"),
        ),
        "key_facts": _facts(
            ("lifted-sofa", "He twisted while carrying a sofa yesterday.", ["sofa", "carry"]),
            ("no-leg-symptoms", "No pain, numbness or weakness in the legs.", ["leg", "numb"]),
            (
                "bladder-bowel-normal",
                "Passing urine and opening his bowels are normal.",
                ["bladder", "bowel", "urine", "toilet"],
            ),
        ),
    },
]

# What participants in the demo read before they start.
DEMO_CONSENT_TEXT = (
    "This is a demonstration of studyapp, a platform for research on how people use AI "
    "assistants to make decisions about health.\n\n"
    "In this demo you will read two short, made-up health scenarios and decide what care "
    "the person in each one needs. Depending on the group you are placed in, you will "
    "either chat with an assistant or use whatever sources you would normally use.\n\n"
    "The scenarios are fictional and the assistant in this demo is scripted: it is not a "
    "doctor and it does not give medical advice. Please do not enter any real personal or "
    "health information. What you type is stored in this demo's database so that the "
    "investigator pages have something to show.\n\n"
    "If you have a real health concern, contact NHS 111 or your GP, or call 999 in an "
    "emergency.\n\n"
    "By continuing you agree to take part in this demonstration."
)

# What is particular to the demo; the instructions page adds the number of scenarios, what
# the participant's arm does and the questions, from the study's settings.
DEMO_INSTRUCTIONS_TEXT = (
    "Each scenario describes a person and a health problem. Imagine you are that person, and "
    "decide as you would if it were happening to you. There are no trick questions, and the "
    "demo takes about ten minutes."
)

DEMO_SYSTEM_PROMPT = (
    "You are a helpful health information assistant talking with a member of the public in "
    "the UK. They may describe symptoms and ask what is wrong or where to get care. Use "
    "plain, friendly English and avoid jargon; explain any medical term you use. Ask a "
    "short follow-up question when something important is missing. Say which conditions "
    "might explain the symptoms and which service fits best: call 999 for an ambulance, "
    "go to A&E, get an urgent GP or urgent care appointment today, book a routine GP "
    "appointment, or look after themselves at home with advice from a pharmacist. Always "
    "mention the warning signs that would mean getting help sooner. You are not a doctor "
    "and cannot examine anyone. Keep each reply under about 150 words."
)
