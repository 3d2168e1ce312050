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
