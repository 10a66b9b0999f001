"""moto's S3 served one request at a time, for the diskless broker (nisshi).

nisshi's storage engine relies on S3 conditional writes (If-Match / If-None-Match). moto answers
them correctly, but `moto_server` handles requests on many threads, so two conditional writes can
both win. This serves moto's WSGI app from a single-threaded server instead.

    python moto_serial.py PORT
"""
import os
import sys

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main():
    port = int(sys.argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, processes=1,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
