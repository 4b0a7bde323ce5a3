"""Checks a browser test runs on a page it has open: axe-core, sideways scrolling, small
touch targets, error wiring and English left on a Chinese page.

Each check returns a list of findings (empty when the page passes), one line each, so a
test can walk many pages and report everything it found at once.
"""

from __future__ import annotations

import re
from typing import Any

from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page

# axe-core's impact levels that fail a page; "moderate" and "minor" are reported by axe
# but do not fail the walk.
FAILING_IMPACTS = frozenset({"serious", "critical"})
_AXE = Axe()
# WCAG 2.2's target size (24 px, or spaced apart) is off in axe by default: on here.
_AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}


def axe_violations(
    page: Page, impacts: frozenset[str] = FAILING_IMPACTS, within: str | None = None
) -> list[str]:
    """axe-core's violations of ``impacts``: rule id, impact, and every target node;
    ``within`` (a CSS selector) checks only that part of the page."""
    results = _AXE.run(page, context=within, options=_AXE_OPTIONS).response
    found = []
    for violation in results["violations"]:
        if violation.get("impact") not in impacts:
            continue
        targets = [" ".join(map(str, node.get("target", []))) for node in violation["nodes"]]
        found.append(
            f"axe {violation['id']} ({violation['impact']}): {violation['help']} "
            f"→ {', '.join(targets[:6])}{' …' if len(targets) > 6 else ''}"
        )
    return found


def sideways_overflow(page: Page) -> list[str]:
    """The page scrolls sideways: the widest elements that stick out, for the fix."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    scroll_width, client_width = int(widths[0]), int(widths[1])
    if scroll_width <= client_width:
        return []
    culprits = page.evaluate(
        """(limit) => {
          const out = [];
          for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.right > limit + 1 && r.width > 0) {
              // Only the outermost offender: its children overflow because it does.
              const parent = el.parentElement;
              const pr = parent ? parent.getBoundingClientRect() : null;
              if (pr && pr.right > limit + 1) continue;
              out.push(el.tagName.toLowerCase() + (el.className ? '.' +
                String(el.className).trim().split(/\\s+/).join('.') : '') +
                ` (right ${Math.round(r.right)} px)`);
            }
          }
          return out.slice(0, 5);
        }""",
        client_width,
    )
    return [
        f"scrolls sideways: scrollWidth {scroll_width} px > {client_width} px; "
        f"widest: {', '.join(culprits)}"
    ]


# Controls a thumb has to hit; links inside running text are exempt (WCAG 2.5.8 allows
# inline targets), links in navigation, tabs and lists of actions are not.
_TARGETS = (
    "button, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, "
    "textarea, summary, header a, nav a, .actions a, label:has(> input[type=radio]), "
    "label:has(> input[type=checkbox])"
)


def small_targets(page: Page, minimum: int = 44) -> list[str]:
    """Visible controls less than ``minimum`` CSS pixels tall (WCAG 2.5.5's 44 px)."""
    small = page.evaluate(
        """([selector, minimum]) => {
          const out = [];
          for (const el of document.querySelectorAll(selector)) {
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height) continue;  // not shown
            const style = getComputedStyle(el);
            if (style.visibility === 'hidden') continue;
            if (r.height + 0.5 < minimum) {
              const text = (el.innerText || el.value || el.getAttribute('aria-label') || '')
                .trim().slice(0, 30);
              out.push(`${el.tagName.toLowerCase()} "${text}" ${Math.round(r.width)}×` +
                `${Math.round(r.height)} px`);
            }
          }
          return out;
        }""",
        [_TARGETS, minimum],
    )
    return [f"target smaller than {minimum} px: {item}" for item in small]


def error_wiring(page: Page) -> list[str]:
    """Every field marked invalid names its message (aria-describedby → an element that
    exists and says something), the message sits right after the field, and the page
    announces that something is wrong (role=alert)."""
    problems: list[str] = page.evaluate(
        """() => {
          const out = [];
          const invalid = document.querySelectorAll('[aria-invalid="true"]');
          for (const field of invalid) {
            const name = field.id || field.name;
            const ids = (field.getAttribute('aria-describedby') || '').split(/\\s+/)
              .filter(Boolean);
            const messages = ids.map(id => document.getElementById(id)).filter(Boolean);
            const errors = messages.filter(el => el.classList.contains('field-error'));
            if (!errors.length) {
              out.push(`field ${name} is invalid but names no .field-error message`);
              continue;
            }
            // "Next to the field": inside the same .field block (or fieldset).
            const block = field.closest('.field, fieldset, form');
            if (!errors.some(el => block && block.contains(el))) {
              out.push(`field ${name}: its message is not inside the field's block`);
            }
            for (const el of errors) {
              if (!el.textContent.trim()) out.push(`field ${name}: empty message`);
            }
          }
          if (invalid.length && !document.querySelector('[role=alert]')) {
            out.push('invalid fields but nothing with role=alert announces them');
          }
          for (const el of document.querySelectorAll('.field-error')) {
            if (!el.id || !document.querySelector(`[aria-describedby~="${el.id}"]`)) {
              out.push(`message "${el.textContent.trim().slice(0, 40)}" is not tied to a field`);
            }
          }
          return out;
        }"""
    )
    return problems


# Words that are the same in every language: formats, codes, brand names, the name of
# the other language on its own button.
ENGLISH_ALLOWED = frozenset(
    {
        "csv",
        "xlsx",
        "excel",
        "pdf",
        "api",
        "jpeg",
        "jpg",
        "png",
        "english",
        "sha",
        "json",
        "toml",
        "url",
        "utf",
        # 企业微信 and 钉钉 call the robot's address a "Webhook" in their Chinese pages too,
        # and a 钉钉 signing secret starts with "SEC" in every language.
        "webhook",
        "sec",
    }
)
_WORD = re.compile(r"[A-Za-z]{3,}")
# Addresses are the same in every language (the print view names the board's address).
_URL = re.compile(r"https?://\S+")


def english_words(page: Page, allowed: frozenset[str] = ENGLISH_ALLOWED) -> list[str]:
    """Text a Chinese page shows (or reads out) with English words of 3+ letters outside
    ``allowed``: a string that bypassed gettext. Skipped: <code>, <kbd>, <samp>, what was
    typed into a <textarea>, anything marked lang="en" (the language switch) or
    translate="no" (user names, stored values, file names)."""
    texts: list[Any] = page.evaluate(
        """() => {
          const skip = 'script, style, code, kbd, samp, textarea, [lang="en"], [translate="no"]';
          const out = [];
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const node = walker.currentNode;
            const el = node.parentElement;
            if (!el || el.closest(skip)) continue;
            const text = node.textContent.trim();
            if (text) out.push([el.tagName.toLowerCase(), text]);
          }
          const attributes = ['title', 'aria-label', 'placeholder', 'alt'];
          for (const el of document.querySelectorAll('*')) {
            if (el.closest(skip)) continue;
            for (const name of attributes) {
              const value = el.getAttribute(name);
              if (value) out.push([`${el.tagName.toLowerCase()}[${name}]`, value]);
            }
            if (el.matches('input[type=submit], input[type=button]') && el.value) {
              out.push(['input[value]', el.value]);
            }
          }
          out.push(['title', document.title]);
          return out;
        }"""
    )
    found = []
    for where, text in texts:
        words = [w for w in _WORD.findall(_URL.sub("", text)) if w.lower() not in allowed]
        if words:
            found.append(f"English on a Chinese page in <{where}>: {text[:80]!r}")
    return list(dict.fromkeys(found))
