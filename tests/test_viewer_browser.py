"""The site as a viewer, in headless Chromium from disk and under a sub-path: the frame player, present mode,
a sweep's compare page, the gallery's search and tags, and what each page weighs before anyone plays."""
import base64
import io
import json
import textwrap
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from tests.browser import check_page, chromium, opener, reached, serve

pytestmark = pytest.mark.slow  # a real browser: deselect with -m "not slow"

ONE = """
from reportgen.declare import *
EXPERIMENT = Experiment(
    name="steps", title="Four epochs", description="A tiny run to step through.", tags=("test", "steps"),
    model=MLP(depth=5, width=16), data=Synthetic(n_train=128, n_test=32, shape=(1, 8, 8), classes=4),
    optimizer=Adam(lr=(1e-3, 1e-4)), epochs=4, batch_size=32, record=Record(every=1, snapshots=2),
    figures=("gradient_diagram",),
)
"""
SWEEP = """
from reportgen.declare import *
EXPERIMENT = Sweep(
    name="rates", title="Two rates", description="The same net at two learning rates.", tags=("test", "sweep"),
    base=Experiment(name="base", model=MLP(depth=5, width=16), data=Synthetic(n_train=128, n_test=32, shape=(1, 8, 8),
                    classes=4), optimizer=Adam(), epochs=3, batch_size=32, record=Record(every=1, snapshots=2),
                    figures=("gradient_diagram",)),
    grid={"optimizer.lr": (1e-3, 3e-2)},
)
"""
FIGURE = "steps/gradient_diagram"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from reportgen import pipeline
    folder = tmp_path_factory.mktemp("viewer")
    (folder / "experiments").mkdir()
    for name, text in (("steps", ONE), ("rates", SWEEP)):
        (folder / "experiments" / f"{name}.py").write_text(textwrap.dedent(text))
    pipeline.build((folder / "experiments",), folder / "runs", folder / "site", templates=None, jobs=1)
    return folder / "site"


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    driver = chromium()
    driver.set_window_size(1280, 900)
    downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="module", params=["file", "http"])
def served(request, site):
    with reached(site, request.param) as served:
        yield served


@pytest.fixture
def page(driver, served):
    """Open a page; after the test, no console error may have been logged."""
    driver.get_log("browser")
    yield opener(driver, served)
    assert [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


def gif(site, figure=FIGURE):
    """The GIF's frames as Python decodes them (imageio over Pillow), RGB."""
    return iio.imread(site / f"{figure}.gif", index=None)[..., :3]


def canvas(driver, selector, which=0):
    """The pixels (RGB) of a canvas on the page, read back losslessly as PNG; None if there is none."""
    url = driver.execute_script(f"return document.querySelectorAll({selector!r})[{which}]?.toDataURL('image/png')")
    return None if url is None else np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",")[1]))).convert("RGB"))


def shown(driver, which=0):
    """The frame a player shows: its label text, and its canvas's pixels, or None before it loaded."""
    text = driver.execute_script(f"return document.querySelectorAll('.controls .where')[{which}].textContent")
    return text, canvas(driver, ".player canvas", which)


def where(driver):
    return driver.find_element("css selector", ".controls .where").text


def wait(driver, predicate, seconds=10):
    end = time.monotonic() + seconds
    while not predicate(driver):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def button(driver, name, which=0):
    return driver.find_elements("css selector", f"button[aria-label='{name}']")[which]


def test_the_gif_carries_each_frames_label_and_the_player_its_bytes(site):
    from reportgen.draw.labels import read
    manifest = json.loads((site / ".reportgen-build.json").read_text())["figures"]
    assert read(site / f"{FIGURE}.gif") == manifest[FIGURE]["labels"] == [f"epoch {k}" for k in (1, 2, 3, 4)]
    script = (site / f"{FIGURE}.frames.js").read_text()
    assert base64.b64decode(script.split('"')[1]) == (site / f"{FIGURE}.gif").read_bytes()
    assert read(site / "rates" / "sweep_grid.gif") == ["epoch 1", "epoch 2", "epoch 3"]


def test_step_with_buttons_and_keys_shows_the_gifs_frames_exactly(page, site):
    from selenium.webdriver.common.keys import Keys
    frames = gif(site)
    driver = page("steps/index.html")
    assert shown(driver) == ("epoch 4 · frame 4 / 4", None)  # the still (last frame) until someone steps
    button(driver, "Previous frame").click()
    wait(driver, lambda d: shown(d)[1] is not None)
    text, pixels = shown(driver)
    assert text == "epoch 3 · frame 3 / 4" and np.array_equal(pixels, frames[2])
    button(driver, "Next frame").click()
    text, after = shown(driver)
    assert text == "epoch 4 · frame 4 / 4" and np.array_equal(after, frames[3]) and not np.array_equal(after, pixels)
    slider = driver.find_element("css selector", ".controls input[type=range]")
    for key, want in ((Keys.HOME, 0), (Keys.ARROW_RIGHT, 1), (Keys.ARROW_RIGHT, 2), (Keys.ARROW_LEFT, 1),
                      (Keys.END, 3)):
        slider.send_keys(key)
        text, pixels = shown(driver)
        assert text == f"epoch {want + 1} · frame {want + 1} / 4" and np.array_equal(pixels, frames[want]), key
        assert slider.get_attribute("value") == str(want)
    assert slider.get_attribute("aria-valuetext") == "epoch 4, frame 4 of 4"


def test_drag_the_slider(page, site):
    from selenium.webdriver import ActionChains
    driver = page("steps/index.html")
    slider = driver.find_element("css selector", ".controls input[type=range]")
    width = slider.size["width"]
    # from the thumb at the right end to the left end, by the mouse
    ActionChains(driver).move_to_element_with_offset(slider, width // 2 - 4, 0).click_and_hold() \
        .move_by_offset(-width // 2, 0).move_by_offset(-width // 2 + 8, 0).release().perform()
    wait(driver, lambda d: where(d) == "epoch 1 · frame 1 / 4" and shown(d)[1] is not None)
    assert np.array_equal(shown(driver)[1], gif(site)[0])


def test_play_and_pause(page):
    driver = page("steps/index.html")
    play = button(driver, "Play")
    play.click()  # from the last frame: it starts again at the first
    assert play.get_attribute("aria-label") == "Pause"
    seen = set()
    wait(driver, lambda d: seen.add(where(d)) or len(seen) >= 3)
    play.click()
    assert play.get_attribute("aria-label") == "Play"
    still = where(driver)
    time.sleep(0.5)  # a frame lasts 1/6 s: playing, it would have moved
    assert where(driver) == still
    play.send_keys(" ")  # space on the button presses it: plays again
    assert play.get_attribute("aria-label") == "Pause"
    driver.find_element("css selector", ".controls input[type=range]").send_keys(" ")  # space elsewhere: pause
    assert play.get_attribute("aria-label") == "Play"


def test_download_the_frame_shown_as_png(page, site, driver):
    for old in driver.downloads.iterdir():
        old.unlink()
    driver = page("steps/index.html")
    button(driver, "Previous frame").click()
    button(driver, "Previous frame").click()
    button(driver, "Download this frame as PNG").click()
    target = driver.downloads / "gradient_diagram-frame-002.png"
    wait(driver, lambda d: target.is_file() and target.stat().st_size > 0)
    with Image.open(io.BytesIO(target.read_bytes())) as im:
        assert im.format == "PNG" and im.size == (800, 450)
        assert np.array_equal(np.asarray(im.convert("RGB")), gif(site)[1])


def test_present_mode_fills_the_screen_steps_by_arrow_keys_and_escape_leaves(page, site, tmp_path):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.keys import Keys
    driver = page("steps/index.html")
    button(driver, "Present full screen").click()
    wait(driver, lambda d: d.execute_script("return !!document.querySelector('.player canvas')"))
    box = driver.execute_script("""const r = document.querySelector('.player canvas').getBoundingClientRect();
        return [r.width, r.height, innerWidth, innerHeight, !!document.fullscreenElement,
                document.querySelector('.player').classList.contains('presenting')]""")
    width, height, screen_w, screen_h, full, presenting = box
    assert presenting and full, box
    assert width >= 0.9 * screen_w or height >= 0.75 * screen_h, box  # fits the screen, controls beneath
    driver.save_screenshot(str(tmp_path / "present.png"))
    ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
    text, pixels = shown(driver)
    assert text == "epoch 3 · frame 3 / 4" and np.array_equal(pixels, gif(site)[2])
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait(driver, lambda d: d.execute_script(
        "return !document.fullscreenElement && !document.querySelector('.presenting')"))


def test_a_sweeps_compare_page_steps_every_run_together(page, site):
    from selenium.webdriver.common.keys import Keys
    driver = page("rates/index.html")
    driver.find_element("link text", "Compare the runs frame by frame").click()
    assert driver.current_url.endswith("rates/compare.html")
    members = [p.name for p in sorted(site.glob("rates.*"))]
    assert len(members) == 2 and len(driver.find_elements("css selector", "[data-linked] .player")) == 2
    assert len(driver.find_elements("css selector", ".controls")) == 1  # one set of controls for both
    frames = [gif(site, f"{m}/gradient_diagram") for m in members]
    button(driver, "Previous frame").click()
    wait(driver, lambda d: d.execute_script("return document.querySelectorAll('[data-linked] canvas').length === 2"))
    slider = driver.find_element("css selector", ".controls input[type=range]")
    for key, want in ((Keys.HOME, 0), (Keys.ARROW_RIGHT, 1), (Keys.END, 2)):
        slider.send_keys(key)
        for k in (0, 1):
            assert np.array_equal(canvas(driver, "[data-linked] canvas", k), frames[k][want]), (key, k)
    assert where(driver) == "epoch 3 · frame 3 / 3"


def test_the_gallery_filters_by_tag_and_searches_as_you_type(page):
    driver = page("index.html")
    visible = lambda: [c.find_element("css selector", "h2").text for c in driver.find_elements("css selector", ".card")
                       if c.is_displayed()]
    count = lambda: driver.find_element("css selector", ".find .count").text
    assert visible() == ["Two rates", "Four epochs"] and count() == "2 experiments"
    tags = {b.text: b for b in driver.find_elements("css selector", ".find button.tag")}
    assert sorted(tags) == ["steps", "sweep", "test"]
    tags["sweep"].click()
    assert visible() == ["Two rates"] and count() == "1 of 2 experiments"
    assert tags["sweep"].get_attribute("aria-pressed") == "true"
    tags["sweep"].click()
    search = driver.find_element("css selector", ".find input[type=search]")
    search.send_keys("learning")  # in the sweep's description only
    assert visible() == ["Two rates"]
    search.clear()
    search.send_keys("EPOCHS tiny")  # every word, any case, title and description
    assert visible() == ["Four epochs"]
    search.send_keys(" nothing")
    assert visible() == [] and count() == "0 of 2 experiments"


def test_the_plain_gif_where_the_frames_cannot_be_read(driver, site):
    with serve(site) as served:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*.frames.js"]})
        try:
            driver.get(served.url + "steps/index.html")
            button(driver, "Next frame").click()
            wait(driver, lambda d: d.execute_script("return document.querySelector('.player.plain .screen img')"
                                                    "?.getAttribute('src') === 'gradient_diagram.gif'"))
        finally:
            driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    driver.get_log("browser")  # the blocked script's error is this test's own


def test_pages_load_clean_and_weigh_little_before_anyone_plays(driver, site):
    """Weights as transferred over http: the page and every resource the browser fetched (Resource Timing),
    before any interaction; a mouse is emulated, so cards show their posters (touch screens play in view)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert "rates/compare.html" in pages
    mouse = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.matchMedia = (original => q => original(q.replace("(hover: none)", "(not all)")))(
            window.matchMedia.bind(window));"""})
    try:
        with serve(site) as served:
            for path in pages:
                assert check_page(driver, served.url + path) == []
            weights = {}
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit
            for path in ("index.html", "steps/index.html", "rates/compare.html"):
                driver.get(served.url + path)
                time.sleep(0.5)
                weights[path] = driver.execute_script("""
                    return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                        .reduce((sum, e) => sum + e.transferSize, 0)""")
            fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", mouse)
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
    print("\npage weights before playing: " + ", ".join(f"{p} {w / 1e3:.0f} kB" for p, w in weights.items()))
    assert weights["index.html"] <= 1.5e6 and weights["steps/index.html"] <= 3e6, weights
    assert not any(name.endswith((".gif", ".frames.js")) for name in fetched), fetched
