"""api/search/pinyin_table.py is pypinyin's character table, folded: it must not drift from
the pypinyin the project installs (a new reading would otherwise not count as pinyin)."""

import subprocess
import sys

from pypinyin.constants import PINYIN_DICT
from pypinyin.contrib.tone_convert import to_normal

from api.search.normalize import fold
from api.search.pinyin_table import SPELLINGS


def test_the_table_is_pypinyins_readings_folded() -> None:
    readings = {reading for value in PINYIN_DICT.values() for reading in value.split(",")}
    expected: dict[str, str] = {}
    for reading in readings:
        canonical = fold(to_normal(reading, v_to_u=True))
        if canonical.isascii() and canonical.isalpha():
            expected[canonical] = canonical
            keyboard = to_normal(reading, v_to_u=False)
            if keyboard.isascii():
                expected[keyboard] = canonical
    assert expected == SPELLINGS


def test_reading_the_api_does_not_load_pypinyin_until_chinese_is_converted() -> None:
    code = (
        "import sys; import api.main; from api.search.normalize import normalize, split_pinyin;"
        "normalize('Made in China 2025'); split_pinyin('zhongguo');"
        "assert 'pypinyin' not in sys.modules, 'loaded early';"
        "assert normalize('重庆') == '重 庆 chong qing'; assert 'pypinyin' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
