"""Lightning imported without scipy.signal (dockyard.models.lightning_import), in a fresh
interpreter: the train stage's start-up is the point, so nothing may be imported before."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CHECK = """
import sys
from dockyard.models.lightning_import import pl
import pytorch_lightning, torchmetrics.functional.audio as audio
assert pl is pytorch_lightning and pl.Trainer
assert "scipy.signal" not in sys.modules, "scipy.signal was imported with Lightning"
assert "signal" not in sys.modules["scipy"].__dict__
# a later import gets the real module, and so do the modules that probed the placeholder
import numpy as np
import scipy.signal
from scipy import signal
assert type(scipy.signal).__name__ == "module" and signal is scipy.signal
assert audio.scipy.signal is scipy.signal
window = signal.windows.hann(5)
assert np.allclose(window, [0.0, 0.5, 1.0, 0.5, 0.0])
f, p = scipy.signal.welch(np.sin(np.arange(256) / 4.0), nperseg=64)
assert f.shape == p.shape == (33,)
print("ok")
"""


def assert_ok_in_a_fresh_interpreter(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_lightning_loads_without_scipy_signal_and_scipy_signal_still_works() -> None:
    assert_ok_in_a_fresh_interpreter(CHECK)


def test_a_module_that_already_holds_scipy_signal_keeps_it() -> None:
    """Imported first (a user's network, a callback), scipy.signal is left as it is."""
    code = (
        "import scipy.signal as first\n"
        "from dockyard.models.lightning_import import pl\n"
        "import sys, scipy.signal\n"
        "assert sys.modules['scipy.signal'] is first and scipy.signal is first\n"
        "print('ok')\n"
    )
    assert_ok_in_a_fresh_interpreter(code)


def test_a_submodule_import_through_the_placeholder_gets_the_real_module() -> None:
    """Something importing scipy.signal.windows while Lightning imports gets the real one."""
    code = (
        "import sys, scipy\n"
        "from dockyard.models.lightning_import import Placeholder\n"
        "placeholder = Placeholder('scipy.signal')\n"
        "placeholder.hamming = None\n"
        "sys.modules['scipy.signal'] = placeholder\n"
        "import scipy.signal.windows as windows\n"
        "from scipy.signal import welch\n"
        "assert type(sys.modules['scipy.signal']).__name__ == 'module'\n"
        "assert list(windows.hann(3)) == [0.0, 1.0, 0.0] and callable(welch)\n"
        "print('ok')\n"
    )
    assert_ok_in_a_fresh_interpreter(code)
