"""The editors' backups never leave this machine: ``cf sync`` skips ``.cf-backup``.

Older versions kept the previous ``.env`` (old passwords) in ``.cf-backup/``
inside the stack folder. On hosts that share no storage (``PrivateFarm``), a
sync, even with ``--delete``, neither sends such a folder nor removes one a
host already has, and ``cf check`` does not call it drift. Read from the
host's own copy of the folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.applyfarm import ok
from tests.e2e.privatelab import PrivateFarm, private_farm
from tests.lab import Lab

pytestmark = pytest.mark.lab

OLD_ENV = ".cf-backup/.env.20240101-000000.00000000000000000001"


@pytest.fixture
def farm(lab: Lab, tmp_path: Path) -> Iterator[PrivateFarm]:
    with private_farm(lab, tmp_path, ("h1", "h2")) as f:
        yield f


def test_a_legacy_backup_folder_is_never_sent_nor_reported(farm: PrivateFarm) -> None:
    files = {".env": "SECRET=new\n", OLD_ENV: "SECRET=old\n", "sub/.cf-backup/x": "old\n"}
    stack = farm.stack("bak", "h2", files=files)
    farm.on_host("h2", stack, ".cf-backup").mkdir(parents=True)
    farm.on_host("h2", stack, ".cf-backup/mine").write_text("the host's own\n")

    done = ok(farm.cf("sync", stack, "--delete"))
    check = ok(farm.cf("check"))

    assert farm.read("h2", stack, ".env") == "SECRET=new\n", done
    assert farm.exists("h2", stack, "sub"), done
    assert not farm.exists("h2", stack, OLD_ENV), done
    assert not farm.exists("h2", stack, "sub/.cf-backup"), done
    assert farm.read("h2", stack, ".cf-backup/mine") == "the host's own\n", done
    assert ".cf-backup" not in check.output, check
