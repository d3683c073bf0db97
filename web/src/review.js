// The review's record and actions on the Review page: approvals, comments, Approve / Comment / Reject,
// and Merge, which stays disabled with the reason until the tenant's review rules are met.

import { call } from "./api.js";
import { h, shortSha, formatTime } from "./dom.js";

const VERB = { approve: "approved", comment: "commented", close: "closed the review" };

function rulesText(rules) {
  const who = rules.approvers === "*" ? "any user of the tenant" : rules.approvers.join(", ");
  return `Needs ${rules.approvals} approval${rules.approvals === 1 ? "" : "s"} from ${who}, never an author's.`;
}

function statusLine(r) {
  if (r.state === "closed") return h("p", {}, h("strong", { class: "bad" }, "Closed"),
    ` by ${r.closed.user} ${formatTime(r.closed.time)}: ${r.closed.text || "(no reason)"}`);
  const counted = r.approvals.filter((a) => a.counted).length;
  const total = counted + r.missing;
  return h("p", {}, h("strong", { class: r.mergeable ? "ok" : "bad" }, r.mergeable ? "Approved" : "Waiting for approval"),
    ` · ${counted} of ${total} approval${total === 1 ? "" : "s"} · authors: ${r.authors.join(", ")}`);
}

function timeline(r) {
  if (!r.events.length) return h("p", { class: "hint" }, "No approvals or comments yet.");
  return h("ol", { class: "commits", "aria-label": "Approvals and comments" }, r.events.map((e) => h("li", {},
    h("strong", {}, e.user), ` ${VERB[e.action]} · ${formatTime(e.time)} · `, h("code", {}, shortSha(e.sha)),
    e.action === "approve" && !r.approvals.some((a) => a.sha === e.sha && a.counted) ? " (does not count)" : "",
    e.text ? h("p", { class: "comment-text" }, e.text) : null)));
}

/**
 * The record and actions of review `branch` of tenant `t`. `me` is whoami; `problemBox(err)` renders an error;
 * `announce(text)` speaks a result. Returns an element that redraws itself after each action.
 */
export function reviewPanel({ t, branch, record, me, problemBox, announce, fleetLink }) {
  const host = h("section", { class: "card", "aria-label": "Approvals" });
  const result = h("div", { role: "status" });
  let current = record;

  async function act(route, body, done) {
    try {
      const out = await call(route, { t, branch }, { body });
      if (out.review) current = out.review;
      result.replaceChildren(h("p", { class: "ok" }, done(out)));
      announce(done(out));
    } catch (err) {
      result.replaceChildren(problemBox(err));
    }
    draw();
  }

  function approveControls(viewer, closed) {
    const note = viewer.author ? "You opened this review: you cannot approve it." : viewer.why_not;
    const button = h("button", { type: "button", disabled: !viewer.may_approve, "aria-describedby": "approve-why",
      onclick: () => act("approve", undefined, () => "Approved") }, "Approve");
    return [button, !viewer.may_approve && !closed ? h("span", { id: "approve-why", class: "hint" }, note) : null];
  }

  function mergeControls(r) {
    const override = me.admin && r.state === "open" && !r.mergeable;
    const reason = h("input", { id: "override-reason", type: "text", maxlength: "200", autocomplete: "off" });
    const merge = h("button", { type: "button", disabled: !r.mergeable && !override, "aria-describedby": "merge-why",
      onclick: async () => {
        merge.disabled = true;
        const body = override ? { override: true, reason: reason.value.trim() } : undefined;
        try {
          const out = await call("merge", { t, branch }, { body });
          result.replaceChildren(h("p", { class: "ok" }, `Merged: commit ${shortSha(out.commit)}. `, fleetLink()));
          announce("Merged");
        } catch (err) {
          merge.disabled = false;
          result.replaceChildren(problemBox(err));
        }
      } }, override ? "Merge with override" : "Merge");
    const why = r.mergeable ? "Merge re-runs the full check against the current main, then brings the branch into main."
      : `Merge is disabled: ${r.blockers.join("; ")}`;
    return [
      h("div", { class: "toolbar" }, merge, h("span", { id: "merge-why", class: "hint" }, why)),
      override ? h("div", { class: "narrow" }, h("label", { for: "override-reason" },
        "Admin override: reason (recorded in the merge commit)"), reason) : null,
    ];
  }

  function commentForm(closed) {
    const text = h("textarea", { id: "review-comment", rows: "3", cols: "60", maxlength: "4000" });
    const reason = h("input", { id: "reject-reason", type: "text", maxlength: "4000", autocomplete: "off" });
    return [
      h("form", { class: "narrow", onsubmit: (event) => {
        event.preventDefault();
        act("comment", { text: text.value }, () => "Comment added");
      } }, h("label", { for: "review-comment" }, "Comment"), text,
        h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Comment"))),
      closed ? null : h("form", { class: "narrow", onsubmit: (event) => {
        event.preventDefault();
        act("close", { reason: reason.value }, () => "Review rejected");
      } }, h("label", { for: "reject-reason" }, "Reason to reject"), reason,
        h("div", { class: "toolbar" }, h("button", { type: "submit", class: "danger" }, "Reject"))),
    ];
  }

  function draw() {
    const r = current;
    const closed = r.state === "closed";
    host.replaceChildren(...[
      h("h2", {}, "Approvals"),
      statusLine(r),
      h("p", { class: "hint" }, rulesText(r.rules), ` You are ${r.viewer.user} (${r.viewer.email}).`),
      h("div", { class: "toolbar" }, approveControls(r.viewer, closed)),
      mergeControls(r),
      result,
      h("h2", {}, "Record"),
      timeline(r),
      commentForm(closed),
    ].flat().filter(Boolean));
  }

  draw();
  return host;
}
