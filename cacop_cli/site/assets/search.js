/* cacop site search: BM25 over the index that site build writes (search-index.js).
   Runs in the page; makes no request. Written for cacop, MIT licence like the rest. */
(function () {
  "use strict";
  var K1 = 1.2, B = 0.75, SHOWN = 20, PREFIXES = 30, TITLE_BONUS = 2;
  var index = window.CACOP_SEARCH_INDEX;
  var form = document.querySelector("form.search");
  var input = document.getElementById("q");
  var panel = document.getElementById("results");
  if (!index || !form || !input || !panel) { return; }
  var root = document.body.getAttribute("data-root") || "";
  var docs = index.documents, lengths = index.lengths;
  var names = index.terms ? index.terms.split(" ") : [], lists = index.postings.split(",");
  var count = docs.length, average = 1, sorted = null;
  var total = 0;
  for (var i = 0; i < lengths.length; i++) { total += lengths[i]; }
  if (count) { average = Math.max(1, total / count); }
  var termAt = Object.create(null);
  for (var n = 0; n < names.length; n++) { termAt[names[n]] = n; }
  var DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", VALUE = {};
  for (var v = 0; v < DIGITS.length; v++) { VALUE[DIGITS.charCodeAt(v)] = v; }

  function numbers(text, from) {  /* base-32 digits; the upper half of DIGITS: more follow */
    var found = [], number = 0;
    for (var at = from; at < text.length; at++) {
      var value = VALUE[text.charCodeAt(at)];
      if (value >= 32) { number = number * 32 + value - 32; } else { found.push(number * 32 + value); number = 0; }
    }
    return found;
  }

  var unpackedTerms = Object.create(null);
  function postingsOf(term) {  /* [document, count, ...] from the encoded steps (searchindex.py) */
    if (!(term in termAt)) { return null; }
    if (unpackedTerms[term]) { return unpackedTerms[term]; }
    var text = lists[termAt[term]], found = [], doc = 0, at = 0;
    if (text.charAt(0) === "!") {  /* in more than half the documents: those that lack it */
      var lacking = numbers(text, 1), next = 0;
      for (var k = 0; k < lacking.length; k++) {
        doc += lacking[k];
        for (; next < doc; next++) { found.push(next, 1); }
        next = doc + 1;
      }
      for (; next < count; next++) { found.push(next, 1); }
    } else {
      var steps = numbers(text, 0);
      while (at < steps.length) {
        doc += Math.floor(steps[at] / 2);
        if (steps[at] % 2) { found.push(doc, steps[at + 1]); at += 2; } else { found.push(doc, 1); at += 1; }
      }
    }
    unpackedTerms[term] = found;
    return found;
  }

  function tokens(text) { return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []; }

  /* A query's words as terms: a run of words that is a vocabulary term becomes its
     group's term, so "ATF" and its spelled-out form find the same entries. */
  function queryTerms(words) {
    var found = [], at = 0;
    while (at < words.length) {
      var best = null, bestLength = 0;
      for (var g = 0; g < index.groups.length; g++) {
        var phrases = index.groups[g];
        for (var p = 0; p < phrases.length; p++) {
          var phrase = phrases[p], n = phrase.length;
          if (n <= bestLength || at + n > words.length) { continue; }
          var same = true;
          for (var k = 0; k < n; k++) { if (words[at + k] !== phrase[k]) { same = false; break; } }
          if (same) { best = "~g" + g; bestLength = n; }
        }
      }
      if (best) { found.push({ terms: [best], weight: 1 }); at += bestLength; continue; }
      found.push({ word: words[at], terms: [words[at]], weight: 1 });
      at += 1;
    }
    var last = found[found.length - 1];
    if (last && last.word && last.word.length >= 2) {  /* the word being typed: its prefixes too */
      if (!sorted) { sorted = names.slice().sort(); }
      var low = 0, high = sorted.length;
      while (low < high) { var mid = (low + high) >> 1; if (sorted[mid] < last.word) { low = mid + 1; } else { high = mid; } }
      for (var m = low; m < sorted.length && m < low + PREFIXES && sorted[m].indexOf(last.word) === 0; m++) {
        if (sorted[m] !== last.word) { last.terms.push(sorted[m]); }
      }
    }
    return found;
  }

  var titles = {};
  function inTitle(doc, wanted) {  /* a title that names the term counts beyond its length */
    if (!(doc in titles)) { titles[doc] = " " + tokens(docs[doc][1]).join(" ") + " "; }
    var title = titles[doc];
    for (var t = 0; t < wanted.terms.length; t++) {
      var term = wanted.terms[t];
      if (term.charAt(0) !== "~") {
        if (title.indexOf(" " + term + " ") >= 0) { return true; }
        continue;
      }
      var phrases = index.groups[Number(term.slice(2))];
      for (var p = 0; p < phrases.length; p++) {
        if (title.indexOf(" " + phrases[p].join(" ") + " ") >= 0) { return true; }
      }
    }
    return false;
  }

  function rank(query) {
    var wanted = queryTerms(tokens(query)), scores = {}, matched = {};
    for (var q = 0; q < wanted.length; q++) {
      var best = {};
      for (var t = 0; t < wanted[q].terms.length; t++) {
        var term = wanted[q].terms[t], postings = postingsOf(term);
        if (!postings) { continue; }
        var df = postings.length / 2, exact = t === 0 ? 1 : 0.7;
        var idf = Math.log(1 + (count - df + 0.5) / (df + 0.5));
        for (var i = 0; i < postings.length; i += 2) {
          var doc = postings[i], tf = postings[i + 1];
          var norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[doc] / average));
          var score = exact * idf * norm;
          if (!(doc in best) || best[doc] < score) { best[doc] = score; }
        }
      }
      for (var d in best) {
        if (inTitle(Number(d), wanted[q])) { best[d] += TITLE_BONUS; }
        scores[d] = (scores[d] || 0) + best[d];
        matched[d] = (matched[d] || 0) + 1;
      }
    }
    return Object.keys(scores).map(Number).sort(function (a, b) {
      return (matched[b] - matched[a]) || (scores[b] - scores[a]) || (a - b);
    });
  }

  function show(query) {
    while (panel.firstChild) { panel.removeChild(panel.firstChild); }
    if (!query.trim()) { panel.hidden = true; return; }
    var found = rank(query);
    var heading = document.createElement("h2");
    heading.textContent = found.length ? found.length + (found.length === 1 ? " result" : " results") : "No results";
    panel.appendChild(heading);
    var list = document.createElement("ol");
    list.className = "hits";
    for (var r = 0; r < found.length && r < SHOWN; r++) {
      var doc = docs[found[r]], item = document.createElement("li"), anchor = document.createElement("a");
      anchor.href = root + encodeURIComponent(doc[0]) + "/index.html";
      anchor.textContent = doc[1];
      var kind = document.createElement("span");
      kind.className = "meta";
      kind.textContent = " · " + doc[2];
      var said = document.createElement("p");
      said.className = "summary";
      said.textContent = doc[3];
      item.appendChild(anchor); item.appendChild(kind); item.appendChild(said);
      list.appendChild(item);
    }
    panel.appendChild(list);
    panel.hidden = false;
  }

  input.addEventListener("input", function () { show(input.value); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { input.value = ""; show(""); }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show(input.value);
    var first = panel.querySelector("a");
    if (first) { first.focus(); }
  });
  window.cacopSearch = function (query) { return rank(query).map(function (n) { return docs[n][0]; }); };
}());
