"""A SOAP 1.1 service for the `soap` connector's end-to-end tests, served by
spyne (a SOAP implementation with its own envelope parser and schema
validation), so the connector is checked against a server it was not
written with.

Usage: python soap_server.py [LOG [USER:PASSWORD]] -> prints "listening on PORT", then serves
POST / until killed; every accepted CreateOrder is appended to the file LOG
as one JSON line. With USER:PASSWORD, a request without those HTTP basic
credentials is answered 401 before spyne sees it. Namespace "urn:aqueduct:test" (document/literal wrapped,
elements qualified, validated by lxml against the service's schema):

    CreateOrder(id: string, qty: int, note: string?) -> CreateOrderResult: string
        a Client.Quantity fault when qty < 0, a Server.Busy fault when qty is 999
    GetOrder(id: string) -> GetOrderResult: OrderInfo { id, total, placed, paid }
        every field text; id "bad" answers total "n/a"; an unknown id a Client fault
"""

import base64
import json
import logging
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from spyne import Application, ComplexModel, Fault, Integer, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

# spyne logs every fault it answers with a traceback; the tests expect faults
logging.getLogger("spyne").setLevel(logging.CRITICAL)

NS = "urn:aqueduct:test"
LOG = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
BASIC = sys.argv[2] if len(sys.argv) > 2 else None


class OrderInfo(ComplexModel):
    __namespace__ = NS
    id = Unicode
    total = Unicode
    placed = Unicode
    paid = Unicode


ORDERS = {
    "A-1": OrderInfo(id="A-1", total="12.50", placed="2026-12-01", paid="true"),
    "bad": OrderInfo(id="bad", total="n/a", placed="2026-12-02", paid="false"),
}


class Orders(ServiceBase):
    @rpc(Unicode, Integer, Unicode, _returns=Unicode)
    def CreateOrder(ctx, id, qty, note):
        if qty is not None and qty < 0:
            raise Fault(faultcode="Client.Quantity", faultstring="quantity must not be negative")
        if qty == 999:
            raise Fault(faultcode="Server.Busy", faultstring="try again later")
        if LOG:
            with open(LOG, "a", encoding="utf-8") as log:
                action = ctx.transport.req_env.get("HTTP_SOAPACTION")
                log.write(json.dumps({"id": id, "qty": qty, "note": note, "action": action}) + "\n")
        return f"created {id}"

    @rpc(Unicode, _returns=OrderInfo)
    def GetOrder(ctx, id):
        found = ORDERS.get(id)
        if found is None:
            raise Fault(faultcode="Client.NotFound", faultstring=f"no order {id}")
        return found


app = Application(
    [Orders], tns=NS, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11()
)


def basic_auth(wsgi):
    """Answers 401 unless the request carries the BASIC credentials."""
    expected = "Basic " + base64.b64encode(BASIC.encode()).decode() if BASIC else None

    def app(environ, start_response):
        if expected and environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="orders"')])
            return [b"bad credentials"]
        return wsgi(environ, start_response)

    return app


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    server = make_server("127.0.0.1", 0, basic_auth(WsgiApplication(app)), handler_class=Quiet)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
