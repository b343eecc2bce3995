"""Reference labels for the labels and adjudications recorded before ReferenceLabel
existed (from here on the ratings services keep them in step).

The rule is written out here as it stands at this migration (ratings.selectors.item_states
and answer_references), on the historical models, so that this migration keeps working
whatever later code does; `manage.py rebuild_reference_labels` recomputes the rows with
the code of the day. An answer item's reference: its latest adjudication if that is not
older than any current label (each rater's latest); else, with two current labels or more
naming the same gold conditions and red flags, theirs ("agreed"); else none. An answer in
more than one round takes the reference of the latest round that has one.
"""

from collections import defaultdict

from django.db import migrations


def build_reference_labels(apps, schema_editor):
    RatingItem = apps.get_model("ratings", "RatingItem")
    Label = apps.get_model("ratings", "Label")
    Adjudication = apps.get_model("ratings", "Adjudication")
    ReferenceLabel = apps.get_model("ratings", "ReferenceLabel")
    items = RatingItem.objects.filter(kind="answer").values(
        "id", "answer_id", "evaluation_item__task__answer", "round__created_at"
    )
    current = defaultdict(dict)  # item id -> rater id -> latest label
    for label in Label.objects.filter(item__kind="answer").order_by("pk"):
        current[label.item_id][label.rater_id] = label
    adjudications = {
        a.item_id: a for a in Adjudication.objects.filter(item__kind="answer").order_by("pk")
    }
    out = {}
    for row in sorted(items, key=lambda r: (r["round__created_at"], r["id"])):
        labels = list(current[row["id"]].values())
        newest = max((label.created_at for label in labels), default=None)
        adjudication = adjudications.get(row["id"])
        if adjudication is not None and (newest is None or adjudication.created_at >= newest):
            source, reference = "adjudicated", adjudication
        elif len(labels) >= 2 and (
            len({(frozenset(x.conditions_named), frozenset(x.red_flags_named)) for x in labels})
            == 1
        ):
            source, reference = "agreed", labels[0]
        else:
            continue
        answer_id = row["answer_id"] or row["evaluation_item__task__answer"]
        if answer_id is None:
            continue
        out[answer_id] = ReferenceLabel(
            answer_id=answer_id,
            item_id=row["id"],
            source=source,
            conditions_correct=bool(reference.conditions_named),
            matched_conditions=list(reference.conditions_named),
            matched_red_flags=list(reference.red_flags_named),
        )
    ReferenceLabel.objects.bulk_create(out.values())


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0002_reference_labels"),
    ]

    operations = [
        migrations.RunPython(build_reference_labels, migrations.RunPython.noop),
    ]
