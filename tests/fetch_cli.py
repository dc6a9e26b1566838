"""`harness` with test entries in the data set catalog, as a separate process (tests only).

LTH_TEST_DATASETS names a JSON file: a list of {name, base, files: [[name, size, sha256, [urls]]], train, val};
each entry is the catalog's `base` with those files and counts. Then the command line runs as `harness` does.
"""

import json
import os
import sys
from dataclasses import replace
from pathlib import Path


def register() -> None:
    from pipelines.data.catalog import DATASETS
    from pipelines.data.transfer import Remote

    for spec in json.loads(Path(os.environ["LTH_TEST_DATASETS"]).read_text()):
        files = tuple(Remote(name, size, sha256, tuple(urls)) for name, size, sha256, urls in spec["files"])
        DATASETS.add(spec["name"], replace(DATASETS[spec["base"]], name=spec["name"], files=files,
                                           train=spec["train"], val=spec["val"]), "a test entry")


if __name__ == "__main__":  # not again in the spawned pool workers, which import this file as __mp_main__
    register()
    from harness.cli import main

    sys.exit(main())
