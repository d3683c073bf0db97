// The two CodeMirror editors (Python code, YAML spec) and how problems are shown in them.

import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";

// CodeMirror styles itself at run time. In a document it would add a <style> element, which the page's
// Content-Security-Policy (style-src 'self') blocks; in a shadow root it uses a constructed stylesheet,
// which CSP allows. So each editor lives in its own shadow root, and its layout comes in as a theme.
const layout = EditorView.theme({
  "&": { height: "100%" },
  ".cm-scroller": { fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace', fontSize: "13px" },
});

/**
 * An editor in `parent`, labelled for screen readers; `shortcuts` are extra key bindings (e.g. Mod-Enter),
 * `onChange` runs after each change of the text.
 */
export function createEditor(parent, { doc, language, label, shortcuts = [], onChange = () => {} }) {
  const root = parent.attachShadow({ mode: "open" });
  return new EditorView({
    parent: root,
    root,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        drawSelection(),
        history(),
        indentOnInput(),
        bracketMatching(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        lintGutter(),
        language === "python" ? python() : yaml(),
        keymap.of([...shortcuts, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ "aria-label": label }),
        layout,
        EditorView.updateListener.of((update) => update.docChanged && onChange()),
      ],
    }),
  });
}

/** Show problems in an editor: each {line (1-based), message, severity}; out-of-range lines go to the last line. */
export function showProblems(view, problems) {
  const doc = view.state.doc;
  const diagnostics = problems.map(({ line, message, severity }) => {
    const at = doc.line(Math.min(Math.max(1, line || 1), doc.lines));
    return { from: at.from, to: at.to, severity: severity === "warning" ? "warning" : "error", message };
  });
  view.dispatch(setDiagnostics(view.state, diagnostics));
}

/** Put the cursor on a line (1-based) and focus the editor. */
export function goToLine(view, line) {
  const at = view.state.doc.line(Math.min(Math.max(1, line), view.state.doc.lines));
  view.dispatch({ selection: { anchor: at.from, head: at.to }, scrollIntoView: true });
  view.focus();
}
