// Every element and run of text, as far as it shows (cut at each ancestor that clips its
// overflow, as an ellipsised title is), that reaches past the viewport's right edge, or
// past its own card in the side column (Library, Queue, Workers): what devtools would show
// sticking out. A box can sit inside its card while its text spills, so text is measured
// too (a Range over each text node).
// Used by tests/support/browser.py's assert_fits: page.evaluate(this file's text).
() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  const shown = (node, rect) => {
    let [left, right] = [rect.left, rect.right];
    // A text node is cut by its own element, an element by its ancestors.
    for (let el = node.parentElement; el; el = el.parentElement) {
      if (getComputedStyle(el).overflowX === "visible") continue;
      const box = el.getBoundingClientRect();
      [left, right] = [Math.max(left, box.left), Math.min(right, box.right)];
    }
    return [left, right];
  };
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`
    + (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let node = walker.currentNode; node; node = walker.nextNode()) {
    const el = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    let rect;
    if (node.nodeType === Node.TEXT_NODE) {
      if (!node.data.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      rect = range.getBoundingClientRect();
    } else {
      rect = node.getBoundingClientRect();
    }
    if (rect.width === 0 || el.closest(".visually-hidden, .skip")) continue;
    const [left, right] = shown(node, rect);
    if (right <= left) continue;  // wholly clipped away
    const what = node.nodeType === Node.TEXT_NODE
      ? `text "${node.data.trim().slice(0, 40)}" in ${name(el)}` : name(el);
    if (right > width + 0.5) found.push(`${what} ends at ${right.toFixed(1)} past the viewport's ${width}`);
    const card = el.closest(".side > .card");
    if (card && node !== card) {
      const box = card.getBoundingClientRect();
      if (right > box.right + 0.5 || left < box.left - 0.5) {
        found.push(`${what} spans ${left.toFixed(1)}-${right.toFixed(1)} outside its card `
          + `(${card.getAttribute("aria-labelledby")}, ${box.left.toFixed(1)}-${box.right.toFixed(1)})`);
      }
    }
  }
  const side = document.querySelector(".side").getBoundingClientRect();
  const layout = document.querySelector(".layout").getBoundingClientRect();
  if (side.right > layout.right + 0.5) found.push(`the side column ends at ${side.right} past the layout's ${layout.right}`);
  for (const th of document.querySelectorAll(".side th")) {
    if (th.scrollWidth > th.clientWidth) found.push(`column header "${th.textContent}" cut (${th.scrollWidth} > ${th.clientWidth})`);
  }
  const doc = document.documentElement;
  const room = Math.min(doc.clientWidth, window.innerWidth);
  if (doc.scrollWidth > room) found.push(`document scrollWidth ${doc.scrollWidth} > ${room}: sideways scroll`);
  return found;
}
