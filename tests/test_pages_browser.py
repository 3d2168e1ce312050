"""The real site in headless Chromium: every page served under a sub-path and from disk, as readers meet it."""
import pytest

from tests.browser import check_page, chromium, opener, reached

pytestmark = pytest.mark.slow  # a real browser: deselect with -m "not slow"
SCRIPT_TITLE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def driver():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="module", params=["http", "file"])
def served(request, built_once):
    with reached(built_once / "site", request.param) as served:
        yield served


@pytest.fixture
def page(driver, served):
    """Open a page of the site (the emulated media and size of a test are reset after it)."""
    yield opener(driver, served)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_every_page_loads_with_every_image_decoded_and_no_error(driver, served, built_once):
    pages = sorted(p.relative_to(built_once / "site").as_posix() for p in (built_once / "site").rglob("*.html"))
    assert pages == ["about.html", "index.html", "tiny-a/index.html", "tiny-b/index.html"]
    problems = [problem for path in pages for problem in check_page(driver, served.url + path)]
    assert problems == [] and served.failed == []


def test_a_title_with_markup_shows_as_text(page):
    from selenium.common.exceptions import NoAlertPresentException
    driver = page("index.html")
    assert SCRIPT_TITLE in [h.text for h in driver.find_elements("css selector", ".card h2")]
    driver = page("tiny-a/index.html")
    assert driver.title.startswith(SCRIPT_TITLE)
    assert driver.execute_script("return document.querySelector('h1').firstChild.textContent.trim()") == SCRIPT_TITLE
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - reading it raises when no alert() ran


def card_sources(driver):
    return driver.execute_script("return [...document.querySelectorAll('.card img')].map(i => i.getAttribute('src'))")


def test_cards_show_a_poster_and_play_on_hover(driver, page):
    from selenium.webdriver import ActionChains
    # headless Chromium has no pointing device, so (hover: none) matches, which CDP cannot change: a reader
    # with a mouse is one for whom it does not match
    mouse = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.matchMedia = (original => q => original(q.replace("(hover: none)", "(not all)")))(
            window.matchMedia.bind(window));"""})
    driver = page("index.html")
    driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", mouse)
    assert card_sources(driver) == ["tiny-a/gradient_diagram.png", "tiny-b/gradient_diagram.png"]
    ActionChains(driver).move_to_element(driver.find_elements("css selector", ".card")[1]).perform()
    assert card_sources(driver) == ["tiny-a/gradient_diagram.png", "tiny-b/gradient_diagram.gif"]
    ActionChains(driver).move_to_element(driver.find_element("css selector", "h1")).perform()
    assert card_sources(driver)[1] == "tiny-b/gradient_diagram.png"


def test_without_a_mouse_cards_play_when_scrolled_into_view(driver, page):
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "hover", "value": "none"}]})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 500, "deviceScaleFactor": 1, "mobile": True})
    driver = page("index.html")
    driver.execute_script("document.querySelectorAll('.card')[1].scrollIntoView()")
    driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
    assert card_sources(driver) == ["tiny-a/gradient_diagram.png", "tiny-b/gradient_diagram.gif"]


def test_embed_snippets_copy_and_are_absolute_only_when_served(page, served):
    from selenium.webdriver.support.wait import WebDriverWait
    driver = page("tiny-b/index.html")
    driver.find_element("css selector", "details.embed summary").click()
    markdown = driver.find_element("css selector", ".snippet code").text
    where = served.url + "tiny-b/" if served.url.startswith("http") else ""
    assert markdown == f"![Gradient diagram of Tiny B]({where}gradient_diagram.gif)"
    button = driver.find_element("css selector", "button.copy")
    button.click()
    WebDriverWait(driver, 5).until(lambda _: button.text == "Copied")


@pytest.mark.parametrize("path", ["index.html", "tiny-a/index.html", "about.html"])
def test_a_phone_needs_no_sideways_scrolling(driver, page, path):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    driver = page(path)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390


def test_light_and_dark_follow_the_readers_setting(driver, page):
    shades = {}
    for scheme in ("light", "dark"):
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        driver = page("tiny-a/index.html")
        shades[scheme] = [driver.execute_script(
            f"const [r, g, b] = getComputedStyle({element}).{prop}.match(/\\d+/g).map(Number);"
            "return (r + g + b) / 765;") for element, prop in (("document.body", "backgroundColor"),
                                                               ("document.body", "color"),
                                                               ("document.querySelector('.highlight')", "backgroundColor"))]
    assert all(v > 0.8 for v in shades["light"][::2]) and shades["light"][1] < 0.2, shades
    assert all(v < 0.2 for v in shades["dark"][::2]) and shades["dark"][1] > 0.8, shades
