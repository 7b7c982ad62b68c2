"""Polls hpti's TAXII 2.1 server with taxii2-client, as a consumer would.

Usage: python3 taxii_poll.py DISCOVERY_URL TOKEN PER_REQUEST OUT_BUNDLE [ADDED_AFTER]
Lists the API roots and collections, pages through every readable collection with
`as_pages` (per_request objects a request), checks that no object comes twice, and
writes everything read as one STIX bundle to OUT_BUNDLE (for the OASIS validator).
Prints "collection <alias> <objects> <pages> <manifest entries>" per collection, "last
<newest date_added>" and "total <n>".
"""
import json
import sys

import requests
from taxii2client.v21 import Server, as_pages


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def main(url, token, per_request, out, added_after=None):
    server = Server(url, auth=BearerAuth(token))
    print("server", server.title)
    root = server.default or server.api_roots[0]
    print("root", root.title, ",".join(root.versions), root.max_content_length)
    objects = {}
    total = 0
    last = ""
    for collection in root.collections:
        if not collection.can_read:
            continue
        filters = {"added_after": added_after} if added_after else {}
        ids = []
        pages = 0
        for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
            pages += 1
            for obj in envelope.get("objects", []):
                ids.append(obj["id"])
                objects[obj["id"]] = obj
        if len(ids) != len(set(ids)):
            raise SystemExit(f"{collection.alias}: an object came twice")
        entries = []
        for envelope in as_pages(collection.get_manifest, per_request=per_request, **filters):
            entries += envelope.get("objects", [])
        last = max([last] + [e["date_added"] for e in entries])
        print("collection", collection.alias, len(ids), pages, len(entries))
        total += len(ids)
    with open(out, "w") as f:
        json.dump({"type": "bundle", "id": "bundle--6b0f6d39-3d4b-4a6e-9a57-2f8d1c0e5a11", "objects": list(objects.values())}, f)
    print("last", last)
    print("total", total)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
