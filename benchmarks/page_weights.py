"""What a first visit to the built site transfers before anyone plays a figure, in headless Chromium over http
under a sub-path (GitHub Pages' shape), cache off, a mouse emulated: the gallery index and every experiment
page, against the budgets (index ≤ 1.5 MB, an experiment page ≤ 3 MB).

Run from the repository root after `reportgen build`: python benchmarks/page_weights.py [SITE]
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import chromium, serve  # noqa: E402

BUDGET = {"index": 1.5e6, "page": 3e6}
MOUSE = """window.matchMedia = (original => q => original(q.replace("(hover: none)", "(not all)")))(
           window.matchMedia.bind(window));"""
WEIGHT = """return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
              .reduce((sum, e) => sum + e.transferSize, 0)"""


def main() -> None:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "site")
    pages = ["index.html"] + sorted(p.relative_to(site).as_posix() for p in site.glob("*/index.html"))
    driver = chromium()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MOUSE})
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        with serve(site) as served:
            weights = {}
            for path in pages:
                driver.get(served.url + path)
                time.sleep(0.5)
                weights[path] = driver.execute_script(WEIGHT)
    finally:
        driver.quit()
    index, rest = weights.pop("index.html"), sorted(weights.items(), key=lambda kv: -kv[1])
    print(f"gallery index: {index / 1e6:.2f} MB (budget {BUDGET['index'] / 1e6:.1f} MB)")
    print(f"experiment pages: {len(rest)}, heaviest {rest[0][0]} {rest[0][1] / 1e6:.2f} MB, median "
          f"{rest[len(rest) // 2][1] / 1e6:.2f} MB (budget {BUDGET['page'] / 1e6:.0f} MB each)")
    over = [p for p, w in rest if w > BUDGET["page"]] + (["index.html"] if index > BUDGET["index"] else [])
    print("over budget: " + (", ".join(over) if over else "none"))


if __name__ == "__main__":
    main()
