"""
Reading a batch's results, and exporting them.

- :mod:`.records`: records, blocks and the one rule of whether an item succeeded.
- :mod:`.compact` (the fast splitter) and :mod:`.ijson_parser` (any layout): parse one results document.
- :mod:`.document`: one document, whichever parser fits; :mod:`.pages`: every page, resumed when broken.
- :mod:`.export`: the export into XCom or into shards and a manifest.
"""
