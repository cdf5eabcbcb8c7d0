"""Offline text corpora for the copyright task: Jane Austen's novels and ABC news.

- Austen: Debian's ``r-cran-janeaustenr`` (MIT package, public-domain texts), fetched once with
  ``apt-get download`` (a package registry) and unpacked with ``dpkg -x`` into the cache, then read with
  ``rdata`` (no R needed). The staged directory moves into place only when complete.
- News: ``lee_background.cor`` (300 ABC news articles) from the ``gensim`` test data, when gensim is
  installed.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
import warnings
import zlib
from pathlib import Path

from eco_unlearn.core.models import cache_dir

BOOKS = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility")
_RDATA = "usr/lib/R/site-library/janeaustenr/data/Rdata"


class CorpusNotAvailable(RuntimeError):
    pass


def _fetch_austen(target: Path) -> None:
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise CorpusNotAvailable("the Austen corpus needs apt-get and dpkg (Debian/Ubuntu) to fetch r-cran-janeaustenr")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".janeaustenr-") as tmp:
        r = subprocess.run(["apt-get", "download", "r-cran-janeaustenr"], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("r-cran-janeaustenr_*.deb"))
        if r.returncode != 0 or not debs:
            raise CorpusNotAvailable(f"apt-get download r-cran-janeaustenr failed: {r.stderr.strip()[-400:]}")
        staged = Path(tmp) / "x"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(staged)], check=True, capture_output=True)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)


def austen(book: str = "prideprejudice") -> list[str]:
    """The lines of one novel (blank lines kept, as in janeaustenr)."""
    import rdata

    if book not in BOOKS:
        raise ValueError(f"unknown book {book!r}; choose one of {', '.join(BOOKS)}")
    root = cache_dir() / "data" / "janeaustenr"
    if not (root / (_RDATA + ".rdb")).exists():
        _fetch_austen(root)
    base = root / _RDATA
    with warnings.catch_warnings():  # rdata: "Unknown file type: assumed RDS", harmless for R's lazy-load DB
        warnings.simplefilter("ignore", UserWarning)
        rdx = gzip.decompress(base.with_suffix(".rdx").read_bytes())
        index = rdata.conversion.convert(rdata.parser.parse_data(rdx))
        off, length = (int(x) for x in index["variables"][book])
        blob = base.with_suffix(".rdb").read_bytes()[off : off + length]
        return [str(s) for s in rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(blob[4:])))]


def chapters(lines: list[str]) -> list[str]:
    """Chapter texts (paragraphs joined by newlines, the heading dropped)."""
    out: list[list[str]] = []
    for line in lines:
        if line.strip().lower().startswith("chapter"):
            out.append([])
        elif out:
            out[-1].append(line)
    texts = []
    for ch in out:
        paras = " ".join(x.strip() if x.strip() else "\n" for x in ch)
        texts.append("\n".join(p.strip() for p in paras.split("\n") if p.strip()))
    return [t for t in texts if t]


def abc_news() -> list[str]:
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise CorpusNotAvailable(
            "the news corpus needs `pip install gensim` (its test data ships the ABC news)"
        ) from None
    return [line.strip() for line in Path(datapath("lee_background.cor")).read_text().splitlines() if line.strip()]
