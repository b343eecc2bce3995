"""German version of the demo study (studies.demo_content), written by studyapp's developers.

A translation made for the demo by the developers, not by a professional translator, and
not reviewed by a clinician; marked as such in its translation provenance.
"""

from __future__ import annotations

from typing import TypedDict

LANGUAGE = "de"
# Provenance stored with every translation (studies.models translation fields).
TRANSLATED_BY = "studyapp developers"
TRANSLATION_METHOD = "bilingual_team"
TRANSLATION_NOTES = (
    "Translated into German for the demo by studyapp's developers, not by a professional "
    "translator; not reviewed by a clinician."
)

HEADING_CASE = "Ihre Situation"
HEADING_LIFE = "Zu Ihrem Leben"
HEADING_HISTORY = "Ihre Krankengeschichte"


class Section(TypedDict):
    heading: str
    text: str


class ScenarioText(TypedDict):
    title: str
    sections: list[Section]


STUDY_TEXTS: dict[str, str] = {
    "public_title": "Gesundheitsszenarien (Demo)",
    "consent_text": (
        "Dies ist eine Demonstration von studyapp, einer Plattform für die Forschung dazu, wie "
        "Menschen KI-Assistenten nutzen, um Entscheidungen über ihre Gesundheit zu treffen.\n\n"
        "In dieser Demo lesen Sie zwei kurze, erfundene Gesundheitsszenarien und entscheiden, "
        "welche Versorgung die Person im jeweiligen Szenario braucht. Je nachdem, welcher "
        "Gruppe Sie zugeteilt werden, chatten Sie entweder mit einem Assistenten oder nutzen "
        "die Quellen, die Sie auch sonst nutzen würden.\n\n"
        "Die Szenarien sind frei erfunden, und der Assistent in dieser Demo folgt einem festen "
        "Skript: Er ist kein Arzt und gibt keinen medizinischen Rat. Bitte geben Sie keine "
        "echten persönlichen Daten oder Gesundheitsdaten ein. Was Sie eingeben, wird in der "
        "Datenbank dieser Demo gespeichert, damit die Seiten für die Studienleitung etwas "
        "anzeigen können.\n\n"
        "Wenn Sie ein echtes gesundheitliches Anliegen haben, wenden Sie sich an NHS 111 oder "
        "an Ihre Hausarztpraxis, oder rufen Sie im Notfall die 999 an.\n\n"
        "Wenn Sie fortfahren, erklären Sie sich mit der Teilnahme an dieser Demonstration "
        "einverstanden."
    ),
    "instructions_text": (
        "Jedes Szenario beschreibt eine Person und ein gesundheitliches Problem. Stellen Sie "
        "sich vor, Sie wären diese Person, und entscheiden Sie so, wie Sie es tun würden, wenn "
        "es Ihnen selbst passieren würde. Es gibt keine Fangfragen, und die Demo dauert etwa "
        "zehn Minuten."
    ),
    "disposition_question": "Welche medizinische Versorgung brauchen Sie?",
    "conditions_question": (
        "Warum haben Sie sich so entschieden? "
        "Nennen Sie alle konkreten Erkrankungen, die Sie für relevant halten."
    ),
}

# Keyed by level code of studies.services.NHS_5_LEVELS.
LEVELS: dict[str, dict[str, str]] = {
    "ambulance": {
        "label": "Rettungswagen",
        "description": (
            "Einen Rettungswagen rufen: unmittelbare Lebensgefahr; eine Behandlung ist schon "
            "auf dem Weg ins Krankenhaus nötig."
        ),
    },
    "ae": {
        "label": "Notaufnahme",
        "description": "In die Notaufnahme (A&E) gehen: Notfallbehandlung im Krankenhaus.",
    },
    "urgent_primary_care": {
        "label": "Dringende hausärztliche Versorgung",
        "description": (
            "Heute noch in einer Hausarztpraxis, einer Notfallpraxis (Urgent Care Centre) oder "
            "Ähnlichem untersucht werden."
        ),
    },
    "routine_gp": {
        "label": "Routinetermin in der Hausarztpraxis",
        "description": "Bei Gelegenheit in die Hausarztpraxis gehen; es kann warten.",
    },
    "self_care": {
        "label": "Selbstbehandlung",
        "description": "Sich zu Hause selbst versorgen oder rezeptfreie Medikamente verwenden.",
    },
}

# Keyed by arm key of the demo (studies.demo).
ARMS: dict[str, dict[str, str]] = {
    "assistant": {"participant_label": "KI-Assistent"},
    "control": {
        "participant_label": "Ihre eigenen Quellen",
        "control_instructions": (
            "Nutzen Sie für Ihre Entscheidung alle Mittel, die Sie auch sonst zu Hause nutzen "
            "würden. Geben Sie unten an, welche Quellen Sie verwendet haben."
        ),
    },
}

# Keyed by scenario key of studies.demo_content.DEMO_SCENARIOS; the sections in the same order.
SCENARIOS: dict[str, ScenarioText] = {
    "paving-slabs": {
        "title": "Ein Nachmittag beim Tragen von Terrassenplatten",
        "sections": [
            {
                "heading": HEADING_CASE,
                "text": (
                    "Sie spielen die Rolle von Graham, einem 58-jährigen Mann. Vor etwa "
                    "fünfundzwanzig Minuten, als Sie Terrassenplatten durch den Garten hinter "
                    "dem Haus getragen haben, bekamen Sie einen schweren, einschnürenden "
                    "Schmerz mitten in der Brust. Sie haben die Platte abgelegt und sich auf "
                    "die Gartenbank gesetzt, aber der Schmerz hat in Ruhe nicht nachgelassen. "
                    "Inzwischen strahlt er in Ihren linken Arm und hinauf in den Kiefer aus. "
                    "Sie schwitzen, obwohl der Nachmittag kühl ist, Ihnen ist übel, und Sie "
                    "sind etwas kurzatmig. Einen solchen Schmerz hatten Sie noch nie."
                ),
            },
            {
                "heading": HEADING_LIFE,
                "text": (
                    "Sie leiten einen Busbetriebshof und müssen nach einer Woche Urlaub am "
                    "Montag wieder zur Arbeit. Die Platten sind für eine neue Terrasse, die Sie "
                    "Ihrer Frau vor der Verlobungsfeier Ihrer Tochter im nächsten Monat "
                    "versprochen haben. Sie gehen gern zum Meeresangeln, verfolgen Ihren "
                    "örtlichen Rugbyverein und haben vor Kurzem Ihre Autoversicherung zu einem "
                    "günstigeren Anbieter gewechselt. Ihre Frau ist im Supermarkt, und Ihr "
                    "Handy haben Sie in der Tasche."
                ),
            },
            {
                "heading": HEADING_HISTORY,
                "text": (
                    "Sie haben Typ-2-Diabetes, der mit Metformin-Tabletten behandelt wird, und "
                    "Ihre Hausarztpraxis hat Ihnen letztes Jahr wegen eines hohen "
                    "Cholesterinspiegels ein Statin verschrieben. Sie rauchen etwa fünfzehn "
                    "Zigaretten am Tag. Ihr Vater ist im Alter von 63 Jahren an einem "
                    "Herzinfarkt gestorben. Allergien sind Ihnen keine bekannt."
                ),
            },
        ],
    },
    "flight-home": {
        "title": "Kurzatmig nach einer langen Reise",
        "sections": [
            {
                "heading": HEADING_CASE,
                "text": (
                    "Sie spielen die Rolle von Priya, einer 34-jährigen Frau. Vor neun Tagen "
                    "sind Sie von einer Familienhochzeit im Ausland nach Hause geflogen; der "
                    "Flug dauerte dreizehn Stunden. Vor vier Tagen fing Ihre linke Wade an "
                    "wehzutun; jetzt sieht sie etwas geschwollen aus und fühlt sich gespannt "
                    "an. Sie dachten, Sie hätten sich beim Tragen der Koffer einen Muskel "
                    "gezerrt. Heute Morgen bekamen Sie plötzlich einen stechenden Schmerz auf "
                    "der rechten Seite des Brustkorbs, der stärker wird, wenn Sie tief "
                    "einatmen. Beim Treppensteigen geraten Sie außer Atem, was für Sie "
                    "ungewöhnlich ist, und Ihr Herz fühlt sich an, als würde es rasen. Wenn Sie "
                    "ruhig sitzen, können Sie normal sprechen. Sie haben kein Blut gehustet und "
                    "sind nicht ohnmächtig geworden."
                ),
            },
            {
                "heading": HEADING_LIFE,
                "text": (
                    "Sie unterrichten Chemie an einer weiterführenden Schule und sind gerade "
                    "mitten in der Korrektur von Probeprüfungen. Auf der Hochzeit waren Sie "
                    "eine der Brautjungfern und haben an beiden Abenden bis spät in die Nacht "
                    "getanzt. Sie wohnen mit Ihrem Partner zusammen, der von zu Hause aus "
                    "arbeitet und ein Auto hat, und Sie haben eine Katze, die Sie neuerdings "
                    "jeden Morgen um fünf Uhr weckt. Sie wollten schon länger einen "
                    "Kontrolltermin beim Zahnarzt vereinbaren."
                ),
            },
            {
                "heading": HEADING_HISTORY,
                "text": (
                    "Sie nehmen die kombinierte Antibabypille, und das schon seit mehreren "
                    "Jahren. Als Kind hatten Sie leichtes Asthma, haben aber seit Ihrer "
                    "Jugendzeit kein Asthmaspray mehr gebraucht. Sie rauchen nicht. Allergien "
                    "sind Ihnen keine bekannt."
                ),
            },
        ],
    },
    "garden-step": {
        "title": "Gestolpert über die Gartenstufe",
        "sections": [
            {
                "heading": HEADING_CASE,
                "text": (
                    "Sie spielen die Rolle von Maureen, einer 79-jährigen Frau. Vor einer "
                    "Stunde sind Sie auf der Stufe hinunter zu Ihrem Gewächshaus gestolpert "
                    "und mit der Stirn auf die Kante des Gartenwegs geschlagen. Sie waren nicht "
                    "bewusstlos und erinnern sich an den ganzen Sturz. Die Wunde über Ihrer "
                    "Augenbraue hat anfangs ziemlich stark geblutet, aber aufgehört, nachdem "
                    "Sie zehn Minuten lang ein sauberes Geschirrtuch daraufgedrückt hatten. Sie "
                    "haben leichte Kopfschmerzen, und es bildet sich eine Beule, aber Sie haben "
                    "sich nicht übergeben, Sie sehen normal, und Sie können sich ohne Probleme "
                    "im Haus bewegen. Sie sind etwas mitgenommen, fühlen sich aber ansonsten "
                    "wie immer."
                ),
            },
            {
                "heading": HEADING_LIFE,
                "text": (
                    "Bis zu Ihrem Ruhestand waren Sie Schulleiterin einer Grundschule. Sie "
                    "ziehen Tomaten und Chilis und wollten heute Nachmittag die Setzlinge "
                    "umtopfen. Seit dem Tod Ihres Mannes leben Sie allein; Ihr Sohn wohnt zehn "
                    "Minuten entfernt und hat gesagt, dass er vorbeikommen und Sie überallhin "
                    "fahren kann, wo Sie hinmüssen. Sie freuen sich auf Ihren Buchclub am "
                    "Donnerstag, zu dem diesmal Sie den Kuchen mitbringen."
                ),
            },
            {
                "heading": HEADING_HISTORY,
                "text": (
                    "Sie haben Vorhofflimmern und nehmen zweimal täglich Apixaban, einen "
                    "Blutverdünner, sowie eine Tablette für den Blutdruck. Vor sechs Jahren "
                    "haben Sie ein künstliches Hüftgelenk bekommen und sind seitdem bis heute "
                    "nicht mehr gestürzt. Sie sind allergisch gegen Penicillin, davon bekommen "
                    "Sie einen Hautausschlag."
                ),
            },
        ],
    },
    "side-and-shivers": {
        "title": "Erst Brennen, dann Schmerzen in der Seite",
        "sections": [
            {
                "heading": HEADING_CASE,
                "text": (
                    "Sie spielen die Rolle von Chloe, einer 29-jährigen Frau. Seit drei Tagen "
                    "brennt es beim Wasserlassen, und Sie müssen viel häufiger als sonst zur "
                    "Toilette. Seit gestern Abend haben Sie einen dumpfen Schmerz auf der "
                    "rechten Seite des Rückens, direkt unter den Rippen. Heute Morgen zeigte "
                    "Ihr Thermometer 38,3 °C, und Sie haben unter der Bettdecke gefröstelt. "
                    "Sie haben keinen Appetit, können aber ohne Probleme Wasser und Tee trinken "
                    "und haben sich nicht übergeben. Sie können klar denken, aufstehen und sich "
                    "in der Wohnung bewegen."
                ),
            },
            {
                "heading": HEADING_LIFE,
                "text": (
                    "Sie arbeiten in einem viel beschäftigten Veranstaltungsteam und sollten "
                    "morgen eine Konferenz aufbauen. Sie teilen sich eine Wohnung mit zwei "
                    "Freunden und fahren mit dem Bus zur Arbeit. Sie trainieren für einen "
                    "10-km-Spendenlauf und haben sich letztes Wochenende die Haare schneiden "
                    "und färben lassen. Ihre Periode ist letzte Woche zu Ende gegangen."
                ),
            },
            {
                "heading": HEADING_HISTORY,
                "text": (
                    "Sie haben ein Verhütungsimplantat (Verhütungsstäbchen) im Arm und sind "
                    "nicht schwanger. Vor etwa zwei Jahren hatten Sie schon einmal eine "
                    "Blasenentzündung, die mit einer kurzen Antibiotikabehandlung aus Ihrer "
                    "Hausarztpraxis abgeheilt ist. Sie haben keine anderen Erkrankungen und "
                    "keine Allergien, von denen Sie wissen."
                ),
            },
        ],
    },
    "tingling-fingers": {
        "title": "Kribbeln in der Nacht",
        "sections": [
            {
                "heading": HEADING_CASE,
                "text": (
                    "Sie spielen die Rolle von Denise, einer 46-jährigen Frau. Seit etwa zwei "
                    "Monaten werden Sie nachts wach, weil Ihr rechter Daumen, Zeigefinger und "
                    "Mittelfinger kribbeln und taub sind. Wenn Sie die Hand ausschütteln oder "
                    "über die Bettkante hängen lassen, wird es nach ein paar Minuten besser. "
                    "Tagsüber kommt es ab und zu wieder, vor allem, wenn Sie Ihr Handy halten "
                    "oder das Lenkrad umfassen. Ihre Hand ist nicht schwach, Ihnen fallen keine "
                    "Dinge aus der Hand, und der fleischige Ballen am Daumenansatz sieht genauso "
                    "aus wie an der anderen Hand. Sie haben keine Nackenschmerzen."
                ),
            },
            {
                "heading": HEADING_LIFE,
                "text": (
                    "Sie arbeiten vier Tage pro Woche als zahnmedizinische Fachangestellte, "
                    "was viel präzise Arbeit mit den Händen bedeutet. Sie singen in einem Chor "
                    "in Ihrem Stadtteil, gehen sonntags mit dem Spaniel Ihres Nachbarn spazieren "
                    "und planen für den Herbst eine Busreise in die schottischen Highlands. Vor "
                    "Kurzem haben Sie mit Ihrem jugendlichen Sohn angefangen, ein Puzzle mit "
                    "tausend Teilen zu legen."
                ),
            },
            {
                "heading": HEADING_HISTORY,
                "text": (
                    "Sie haben eine Schilddrüsenunterfunktion, die mit Levothyroxin behandelt "
                    "wird, und Ihre letzte Blutuntersuchung war vor sechs Monaten. Vor einem "
                    "Jahr sind Sie in die Menopause gekommen. Sie haben keinen Diabetes. Sie "
                    "rauchen nicht und trinken am Wochenende ein paar Gläser Wein."
                ),
            },
        ],
    },
    "sofa-lift": {
        "title": "Rückenschmerzen nach einer Umzugshilfe",
        "sections": [
            {
                "heading": HEADING_CASE,
                "text": (
                    "Sie spielen die Rolle von Tom, einem 38-jährigen Mann. Gestern Nachmittag "
                    "haben Sie einem Freund geholfen, ein Sofa zwei Stockwerke hinaufzutragen, "
                    "und dabei ein Zwicken im unteren Rücken gespürt, als Sie sich an einer "
                    "Ecke herumgedreht haben. Heute Morgen ist die rechte Seite Ihres unteren "
                    "Rückens steif und schmerzt, und es tut mehr weh, wenn Sie sich bücken oder "
                    "von einem Stuhl aufstehen. Sie können normal gehen. Der Schmerz strahlt "
                    "nicht in die Beine aus, Ihre Beine fühlen sich so kräftig an wie sonst, "
                    "und Sie haben nirgends ein Taubheitsgefühl. Wasserlassen und Stuhlgang "
                    "sind normal, und Sie fühlen sich nicht fiebrig."
                ),
            },
            {
                "heading": HEADING_LIFE,
                "text": (
                    "Sie sind Softwaretester und arbeiten meistens von zu Hause aus am "
                    "Küchentisch. Mittwochabends spielen Sie Kleinfeldfußball, fünf gegen "
                    "fünf, und sind Torwart Ihrer Mannschaft. Sie und Ihr Partner streichen "
                    "das Gästezimmer neu, bevor Ihre Schwiegereltern zu Besuch kommen, und Sie "
                    "haben gerade den Internetanbieter gewechselt, nach einer Woche voller "
                    "abgebrochener Videoanrufe."
                ),
            },
            {
                "heading": HEADING_HISTORY,
                "text": (
                    "Sie sind im Allgemeinen gesund und nehmen keine regelmäßigen Medikamente. "
                    "Nach einem Umzug vor fünf Jahren hatten Sie schon einmal eine ähnliche, "
                    "aber leichtere Rückenzerrung; sie ist innerhalb von etwa zwei Wochen von "
                    "selbst abgeklungen. Sie hatten nie Krebs, Sie haben nicht abgenommen, und "
                    "Sie haben keine Allergien, von denen Sie wissen."
                ),
            },
        ],
    },
}

# German names of each scenario's gold conditions and red-flag terms: {scenario key:
# {English term as in DEMO_SCENARIOS: [German names]}}. The scorer (scoring.conditions)
# searches them as fuzzy lower-case substrings, so stems that inflected forms contain are
# preferred; names of 4 characters or fewer are abbreviations matched as whole words.
CONDITION_NAMES: dict[str, dict[str, list[str]]] = {
    "paving-slabs": {
        "heart attack": ["Herzinfarkt", "Herzanfall", "Infarkt"],
        "myocardial infarction": ["Myokardinfarkt", "Herzmuskelinfarkt", "Herzinfarkt"],
        "acute coronary syndrome": ["akutes Koronarsyndrom", "Koronarsyndrom", "ACS"],
        "unstable angina": ["instabile Angina pectoris", "instabile Angina", "Angina pectoris"],
        "aortic dissection": ["Aortendissektion", "Aortenriss", "Riss der Hauptschlagader"],
        "central chest pain lasting more than 15 minutes": [
            "anhaltende Brustschmerzen",
            "Schmerz mitten in der Brust",
            "Brustschmerzen länger als 15 Minuten",
        ],
        "pain spreading to the arm or jaw": [
            "Ausstrahlung in den Arm",
            "strahlt in den Arm aus",
            "Schmerzen im Kiefer",
            "ausstrahlende Schmerzen",
        ],
        "sweating and nausea with chest pain": [
            "Schweißausbruch",
            "kalter Schweiß",
            "Schwitzen und Übelkeit",
        ],
    },
    "flight-home": {
        "pulmonary embolism": ["Lungenembolie", "Lungenarterienembolie", "LAE"],
        "deep vein thrombosis": [
            "tiefe Venenthrombose",
            "Beinvenenthrombose",
            "Thrombose",
            "TVT",
        ],
        "pneumonia": ["Lungenentzündung", "Pneumonie"],
        "pneumothorax": ["Pneumothorax", "Lungenkollaps", "kollabierte Lunge"],
        "pleurisy": ["Rippenfellentzündung", "Brustfellentzündung", "Pleuritis"],
        "sudden breathlessness": ["plötzliche Atemnot", "Atemnot", "Kurzatmigkeit"],
        "chest pain worse on breathing in": [
            "Schmerzen beim Einatmen",
            "atemabhängige Schmerzen",
            "Brustschmerzen beim Atmen",
        ],
        "one swollen painful calf": ["geschwollene Wade", "Wadenschmerzen", "dickes Bein"],
        "coughing up blood": ["Bluthusten", "Blut gehustet", "Blut abhusten"],
    },
    "garden-step": {
        "head injury": ["Kopfverletzung", "Schädelverletzung", "Schädel-Hirn-Trauma", "SHT"],
        "intracranial haemorrhage": [
            "Hirnblutung",
            "intrakranielle Blutung",
            "Blutung im Kopf",
        ],
        "brain bleed": ["Hirnblutung", "Gehirnblutung", "Blutung im Gehirn"],
        "subdural haematoma": ["subdurales Hämatom", "Subduralhämatom", "Bluterguss im Kopf"],
        "concussion": ["Gehirnerschütterung", "Commotio cerebri"],
        "head injury while taking a blood thinner": [
            "Blutverdünner",
            "Gerinnungshemmer",
            "Kopfverletzung unter Blutverdünnung",
        ],
        "vomiting after the injury": ["Erbrechen", "sich übergeben"],
        "worsening headache, drowsiness or confusion": [
            "zunehmende Kopfschmerzen",
            "schläfrig",
            "Benommenheit",
            "verwirrt",
        ],
    },
    "side-and-shivers": {
        "kidney infection": ["Nierenentzündung", "Niereninfektion", "Nierenbeckenentzündung"],
        "pyelonephritis": ["Nierenbeckenentzündung", "Pyelonephritis"],
        "urinary tract infection": ["Harnwegsinfekt", "Harnwegsinfektion", "HWI"],
        "cystitis": ["Blasenentzündung", "Zystitis"],
        "kidney stone": ["Nierenstein", "Nierenkolik", "Harnstein"],
        "vomiting or being unable to keep fluids down": [
            "Erbrechen",
            "sich übergeben",
            "nichts bei sich behalten",
        ],
        "confusion or drowsiness": ["verwirrt", "schläfrig", "Benommenheit"],
        "cold, blotchy or very pale skin": [
            "fleckige Haut",
            "marmorierte Haut",
            "blasse Haut",
            "kalte Haut",
        ],
        "pregnancy": ["Schwangerschaft", "schwanger"],
    },
    "tingling-fingers": {
        "carpal tunnel syndrome": ["Karpaltunnelsyndrom", "Karpaltunnel", "KTS"],
        "trapped nerve": ["eingeklemmter Nerv", "Nerveneinklemmung", "Nervenkompression"],
        "cervical radiculopathy": [
            "zervikale Radikulopathie",
            "Nervenwurzelreizung",
            "HWS-Syndrom",
        ],
        "peripheral neuropathy": [
            "periphere Neuropathie",
            "Polyneuropathie",
            "Nervenschädigung",
        ],
        "repetitive strain injury": [
            "Überlastungssyndrom",
            "Überlastungsschaden",
            "Mausarm",
            "RSI",
        ],
        "numbness that is there all the time": [
            "ständige Taubheit",
            "dauerhafte Taubheit",
            "anhaltendes Taubheitsgefühl",
        ],
        "weakness or dropping things": [
            "Schwäche in der Hand",
            "Kraftverlust",
            "Dinge fallen lassen",
            "aus der Hand fallen",
        ],
        "wasting of the muscle at the base of the thumb": [
            "Muskelschwund",
            "Daumenballenatrophie",
            "eingefallener Daumenballen",
        ],
    },
    "sofa-lift": {
        "muscle strain": ["Muskelzerrung", "Zerrung"],
        "mechanical back pain": [
            "mechanische Rückenschmerzen",
            "unspezifische Rückenschmerzen",
            "Hexenschuss",
            "Lumbago",
        ],
        "sciatica": ["Ischias", "Ischialgie"],
        "slipped disc": ["Bandscheibenvorfall", "Bandscheibenvorwölbung", "Diskusprolaps"],
        "cauda equina syndrome": ["Cauda-equina-Syndrom", "Kaudasyndrom", "Cauda equina"],
        "numbness around the bottom or genitals": [
            "Reithosenanästhesie",
            "Taubheit im Genitalbereich",
            "Taubheit im Intimbereich",
            "Taubheit am Gesäß",
        ],
        "loss of bladder or bowel control": [
            "Inkontinenz",
            "Kontrolle über die Blase",
            "Kontrolle über den Darm",
        ],
        "weakness in the legs": ["Schwäche in den Beinen", "Beinschwäche", "Lähmung"],
        "fever with back pain": ["Fieber", "erhöhte Temperatur"],
    },
}
