"""Loads every MISP event of an `hpti export misp` file with PyMISP, strictly.

Usage: python3 check_misp.py FILE
Prints one line per event ("ok <uuid> <attributes> <objects>") and exits non-zero on the
first event PyMISP refuses: MISPEvent.load() must accept it; every attribute's
category/type pair must pass MISPAttribute(strict=True) (PyMISP otherwise replaces a
wrong category silently); every object must match its MISP template strictly.
"""
import copy
import json
import sys

from pymisp import MISPAttribute, MISPEvent, MISPObject


def main(path):
    with open(path) as f:
        document = json.load(f)
    events = document["response"]
    if not events:
        print("no events")
        return 1
    for wrapped in events:
        event = MISPEvent()
        event.load(copy.deepcopy(wrapped))
        raw = wrapped["Event"]
        for attribute in raw["Attribute"]:
            checked = MISPAttribute(strict=True)
            checked.from_dict(**copy.deepcopy(attribute))
            if checked.category != attribute["category"]:
                raise SystemExit(f"category changed: {attribute}")
        for obj in raw.get("Object", []):
            rebuilt = MISPObject(obj["name"], strict=True)
            for attribute in obj["Attribute"]:
                rebuilt.add_attribute(
                    attribute["object_relation"],
                    value=attribute["value"],
                    type=attribute["type"],
                    category=attribute["category"],
                )
            rebuilt.to_json(strict=True)
            if obj["template_uuid"] != rebuilt.template_uuid or str(obj["template_version"]) != str(rebuilt.template_version):
                raise SystemExit(f"template differs: {obj['template_uuid']} v{obj['template_version']}")
        tags = [t.name for t in event.tags]
        print(f"ok {event.uuid} {len(event.attributes)} {len(event.objects)} {' '.join(tags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
