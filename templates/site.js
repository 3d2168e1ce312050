// Cards show a still poster and play their animation on hover, or (without a mouse) once scrolled into view.
const calm = matchMedia("(prefers-reduced-motion: reduce)").matches;
for (const img of document.querySelectorAll("img[data-play]")) {
  const poster = img.getAttribute("src"), anim = img.dataset.play;
  const play = () => { img.src = anim; }, stop = () => { img.src = poster; };
  const card = img.closest("a") || img;
  card.addEventListener("mouseenter", play);
  card.addEventListener("mouseleave", stop);
  card.addEventListener("focus", play);
  card.addEventListener("blur", stop);
  if (!calm && matchMedia("(hover: none)").matches && "IntersectionObserver" in window) {
    new IntersectionObserver(es => es.forEach(e => e.isIntersecting ? play() : stop()), { threshold: 0.6 }).observe(img);
  }
}

// The gallery's search and tag filter: a card shows when its title, description and tags hold every word
// typed (as you type), and it has every tag pressed.
const find = document.querySelector("form.find");
if (find) {
  const cards = [...document.querySelectorAll(".cards .card")];
  const text = card => [card.querySelector("h2"), card.querySelector(".body > p:not(.meta)")]
    .map(el => el?.textContent || "").concat(JSON.parse(card.dataset.tags || "[]")).join(" ").toLowerCase();
  const search = find.querySelector("input[type=search]"), count = find.querySelector(".count");
  const filter = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const tags = [...find.querySelectorAll(".tag[aria-pressed=true]")].map(b => b.dataset.tag);
    let shown = 0;
    for (const card of cards) {
      const own = JSON.parse(card.dataset.tags || "[]"), seen = text(card);
      card.hidden = !(words.every(w => seen.includes(w)) && tags.every(t => own.includes(t)));
      shown += !card.hidden;
    }
    count.textContent = shown === cards.length ? `${cards.length} experiments` : `${shown} of ${cards.length} experiments`;
  };
  find.addEventListener("submit", e => e.preventDefault());
  search.addEventListener("input", filter);
  find.addEventListener("click", e => {
    const tag = e.target.closest(".tag[data-tag]");
    if (tag) { tag.setAttribute("aria-pressed", tag.getAttribute("aria-pressed") !== "true"); filter(); }
  });
  find.hidden = false;
  filter();
}

// Embed snippets hold paths relative to the page; served over http(s) they show the full address instead.
if (location.protocol.startsWith("http")) {
  for (const hint of document.querySelectorAll(".embed .hint")) {
    hint.textContent = "Full addresses of this site's files: paste the snippets as they are.";
  }
  for (const figure of document.querySelectorAll("figure")) {
    for (const code of figure.querySelectorAll(".snippet code")) {
      for (const link of figure.querySelectorAll("a[download]")) {
        code.textContent = code.textContent.replaceAll(`"${link.getAttribute("href")}"`, `"${link.href}"`)
                                           .replaceAll(`(${link.getAttribute("href")})`, `(${link.href})`);
      }
    }
  }
}

// Copy buttons: the clipboard API where the page is a secure context, else a selection and execCommand.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const code = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(code.textContent);
    } catch {
      getSelection().selectAllChildren(code);
      document.execCommand("copy");
      getSelection().removeAllRanges();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}
