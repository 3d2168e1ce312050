// Cards show a still poster and play their animation on hover or once scrolled into view.
for (const img of document.querySelectorAll("img[data-play]")) {
  const poster = img.getAttribute("src"), anim = img.dataset.play;
  const play = () => { img.src = anim; }, stop = () => { img.src = poster; };
  img.closest("a").addEventListener("mouseenter", play);
  img.closest("a").addEventListener("mouseleave", stop);
  if (matchMedia("(hover: none)").matches && "IntersectionObserver" in window) {
    new IntersectionObserver(es => es.forEach(e => e.isIntersecting ? play() : stop()), { threshold: 0.6 }).observe(img);
  }
}
