"""A GraphQL API for the `graphql` connector's end-to-end tests, served by
graphql-core (the reference implementation's Python port), so the
connector is checked against an implementation it was not written with.

Usage: python graphql_server.py [TOKEN] -> prints "listening on PORT", then
serves POST / ({"query", "variables", "operationName"} as JSON) until killed; with TOKEN, a
request without `Authorization: Bearer TOKEN` is answered 401. Orders live
in memory:

    type Order { id: ID!, total: String, placed: String, tags: [String!]! }
    query    order(id: ID!): Order          (null for an unknown id)
    mutation tagOrder(id: ID!, tag: String!): Order
             (an error for an unknown id or the tag "forbidden")
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from graphql import build_schema, graphql_sync

SDL = """
type Order { id: ID!, total: String, placed: String, tags: [String!]! }
type Query { order(id: ID!): Order }
type Mutation { tagOrder(id: ID!, tag: String!): Order }
"""

ORDERS = {
    "1": {"id": "1", "total": "12.50", "placed": "2026-12-01", "tags": []},
    "2": {"id": "2", "total": "7", "placed": "2026-12-02", "tags": []},
    # a total the client cannot read as a decimal
    "3": {"id": "3", "total": "n/a", "placed": "2026-12-03", "tags": []},
}
LOCK = threading.Lock()
TOKEN = sys.argv[1] if len(sys.argv) > 1 else None


def order(_root, _info, id):
    with LOCK:
        return ORDERS.get(id)


def tag_order(_root, _info, id, tag):
    if tag == "forbidden":
        raise ValueError("tag 'forbidden' is not allowed")
    with LOCK:
        found = ORDERS.get(id)
        if found is None:
            raise ValueError(f"no order {id}")
        found["tags"].append(tag)
        return found


schema = build_schema(SDL)
schema.query_type.fields["order"].resolve = order
schema.mutation_type.fields["tagOrder"].resolve = tag_order


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if TOKEN and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.answer(401, {"errors": [{"message": "not authenticated"}]})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            self.answer(400, {"errors": [{"message": "the body is not JSON"}]})
            return
        result = graphql_sync(
            schema,
            request.get("query", ""),
            variable_values=request.get("variables"),
            operation_name=request.get("operationName"),
        )
        body = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        self.answer(200, body)

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
