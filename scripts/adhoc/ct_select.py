"""Val-selected epoch vs the paper's schedule run to its end (select="last"), on the cached gate-3
MiniGen samples; held-out report only. argv: seeds (default 0 1 2)."""
import sys
from synthrec_core.classifier import HeadConfig
from ct_steps import compare_heads  # scripts/adhoc is this script's sys.path[0]

compare_heads({"paper CT, val epoch": HeadConfig(), "paper CT, last epoch": HeadConfig(select="last"),
               "470 steps, last epoch": HeadConfig(epochs=470, select="last")},
              tuple(int(s) for s in sys.argv[1:]) or (0, 1, 2))
