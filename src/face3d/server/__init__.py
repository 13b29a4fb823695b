"""`face3d serve`: the offline engine behind the Face++ 3dface HTTP contract.

`FaceApp(engine, ...)` builds the WSGI application (werkzeug parses the form; no framework);
`serving.py` runs it on waitress. The contract is facepp-3dface-api.txt; where the document is
silent, the docstring of the module concerned says what it decides:

* `app.py`: the one path and method, the order of checks, authentication, the engine's turns,
  the answers and the access log;
* `form.py`: the 2 MiB entity limit (the plain-text 413), the form's content types, empty and
  misplaced parameters;
* `images.py`: each slot's image (file, then base64, then URL), the JPEG and size checks,
  fetching `image_url_N`;
* `admission.py`: the QPS limit and the injected failures;
* `results.py`: engine errors and results as the API's answer;
* `api_error.py`: the error message (where the document keeps a space after the colon);
* `serving.py`: waitress, with every queue bounded;
* `workers.py`: engine worker processes (`--workers N`), each with its own engine.

This package imports only `face3d.engine` and the shared modules (contract, errors, settings,
geometry). Importing the package itself loads nothing; the application needs the engine extra
(werkzeug, waitress).
"""
