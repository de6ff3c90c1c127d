/*
 * jsPsych 8 plugin "2afc-image-confidence-response": one 2-AFC trial of the IMI experiments
 * (protocol §7.2). Two reference grids (side a on the left, side b on the right), two queries
 * stacked in the centre, six confidence buttons between them. Buttons unlock after
 * `initial_wait_duration`; after a click the chosen query gets a black frame, after
 * `feedback_delay_duration` a green/red frame and "Correct!"/"Incorrect!", after
 * `feedback_duration` a Continue button that ends the trial.
 *
 * Data (protocol §7.3): rt (ms from display to the click, float), button_pressed (0-5; 0-2 is the
 * row under the upper query), switched_queries, confidence (1-3), choice ("a" | "b", the query's
 * side label before the random placement) and correct (choice == correct_query_choice).
 */
var jsPsych2afcImageConfidenceResponse = (function (jspsych) {
  "use strict";

  const T = jspsych.ParameterType;
  const info = {
    name: "2afc-image-confidence-response",
    version: "1.0.0",
    parameters: {
      /** Query of side a (the min query in the IMI experiments). */
      query_a_stimulus: { type: T.IMAGE, default: undefined },
      /** Query of side b (the max query). */
      query_b_stimulus: { type: T.IMAGE, default: undefined },
      /** Reference images of side a, shown as a square grid on the left. */
      reference_a_stimuli: { type: T.IMAGE, default: undefined, array: true },
      /** Reference images of side b, shown as a square grid on the right. */
      reference_b_stimuli: { type: T.IMAGE, default: undefined, array: true },
      reference_a_title: { type: T.STRING, default: "Left Examples" },
      reference_b_title: { type: T.STRING, default: "Right Examples" },
      /** Button labels: the first half under the upper query, the second half above the lower one. */
      choices: { type: T.STRING, default: ["1", "2", "3", "1", "2", "3"], array: true },
      prompt: { type: T.HTML_STRING, default: null },
      /** Show the queries in random order (Math.random() > 0.5 puts query b on top). */
      randomize_queries: { type: T.BOOL, default: true },
      /** A placement drawn beforehand (true: query b on top); overrides randomize_queries. */
      switched_queries: { type: T.BOOL, default: null },
      /** Which query is correct: "a" or "b". */
      correct_query_choice: { type: T.STRING, default: "b" },
      /** Buttons are disabled for this long after the display (ms). */
      initial_wait_duration: { type: T.INT, default: 1500 },
      /** Time from the click to the feedback (ms). */
      feedback_delay_duration: { type: T.INT, default: 350 },
      /** Time from the feedback to the Continue button (ms). */
      feedback_duration: { type: T.INT, default: 1150 },
      /** Called with the display element once the trial is drawn (e.g. to add a counter). */
      on_presentation_callback: { type: T.FUNCTION, default: null },
      /** Called with the trial's data when it ends. */
      trial_completed_callback: { type: T.FUNCTION, default: null },
    },
    data: {
      rt: { type: T.FLOAT },
      button_pressed: { type: T.INT },
      switched_queries: { type: T.BOOL },
      confidence: { type: T.INT },
      choice: { type: T.STRING },
      correct: { type: T.BOOL },
    },
  };

  function grid(stimuli, side) {
    const columns = Math.ceil(Math.sqrt(stimuli.length));
    const images = stimuli
      .map((src) => `<img class="imi-image imi-reference" src="${src}" alt="">`)
      .join("");
    return `<div class="imi-grid imi-grid-${side}" style="grid-template-columns: repeat(${columns}, auto)">${images}</div>`;
  }

  class TwoAfcImageConfidenceResponsePlugin {
    constructor(jsPsych) {
      this.jsPsych = jsPsych;
    }

    trial(display_element, trial) {
      const switched =
        trial.switched_queries !== null
          ? trial.switched_queries
          : trial.randomize_queries && Math.random() > 0.5;
      const upper = switched ? trial.query_b_stimulus : trial.query_a_stimulus;
      const lower = switched ? trial.query_a_stimulus : trial.query_b_stimulus;
      const perRow = Math.round(trial.choices.length / 2);
      const button = (label, i) =>
        `<div class="imi-button" id="imi-button-${i}" data-choice="${i}">` +
        `<button class="jspsych-btn" disabled>${label}</button></div>`;
      const upperButtons = trial.choices.slice(0, perRow).map((c, i) => button(c, i)).join("");
      const lowerButtons = trial.choices
        .slice(perRow)
        .map((c, i) => button(c, i + perRow))
        .join("");

      display_element.innerHTML =
        (trial.prompt !== null ? `<div class="imi-prompt">${trial.prompt}</div>` : "") +
        `<div class="imi-trial">
          <div class="imi-side imi-side-a"><p class="imi-title">${trial.reference_a_title}</p>${grid(trial.reference_a_stimuli, "a")}</div>
          <div class="imi-centre">
            <img class="imi-image imi-query" id="imi-query-upper" src="${upper}" alt="">
            <div class="imi-buttons" style="grid-template-columns: repeat(${perRow}, 1fr)">${upperButtons}</div>
            <div class="imi-hint" id="imi-hint"><div class="imi-arrow"></div><p>More Confident</p></div>
            <div class="imi-buttons" style="grid-template-columns: repeat(${perRow}, 1fr)">${lowerButtons}</div>
            <img class="imi-image imi-query" id="imi-query-lower" src="${lower}" alt="">
          </div>
          <div class="imi-side imi-side-b"><p class="imi-title">${trial.reference_b_title}</p>${grid(trial.reference_b_stimuli, "b")}</div>
        </div>`;

      if (trial.on_presentation_callback !== null) {
        trial.on_presentation_callback(display_element);
      }

      const start = performance.now();
      const buttons = display_element.querySelectorAll(".imi-button button");
      this.jsPsych.pluginAPI.setTimeout(() => {
        buttons.forEach((b) => (b.disabled = false));
      }, trial.initial_wait_duration);

      let response = null;
      const respond = (index) => {
        if (response !== null) return;
        const onUpper = index < perRow;
        // The upper image is query b when the queries were switched.
        const choice = onUpper === switched ? "b" : "a";
        response = {
          rt: performance.now() - start,
          button_pressed: index,
          switched_queries: switched,
          confidence: (index % perRow) + 1,
          choice: choice,
          correct: choice === trial.correct_query_choice,
        };
        buttons.forEach((b) => (b.disabled = true));
        const chosen = display_element.querySelector(onUpper ? "#imi-query-upper" : "#imi-query-lower");
        chosen.classList.add("imi-responded");
        this.jsPsych.pluginAPI.setTimeout(() => {
          chosen.classList.add(response.correct ? "imi-correct" : "imi-incorrect");
          const hint = display_element.querySelector("#imi-hint");
          hint.innerHTML = response.correct
            ? '<p class="imi-feedback imi-feedback-correct"><b>Correct!</b></p>'
            : '<p class="imi-feedback imi-feedback-incorrect"><b>Incorrect!</b></p>';
          this.jsPsych.pluginAPI.setTimeout(() => {
            hint.innerHTML = '<button id="imi-continue" class="jspsych-btn">Continue</button>';
            hint.querySelector("#imi-continue").addEventListener("click", endTrial);
          }, trial.feedback_duration);
        }, trial.feedback_delay_duration);
      };
      display_element.querySelectorAll(".imi-button").forEach((div) => {
        const index = parseInt(div.getAttribute("data-choice"), 10);
        div.querySelector("button").addEventListener("click", () => respond(index));
      });

      const endTrial = () => {
        this.jsPsych.pluginAPI.clearAllTimeouts();
        if (trial.trial_completed_callback !== null) {
          trial.trial_completed_callback(response);
        }
        display_element.innerHTML = "";
        this.jsPsych.finishTrial(response);
      };
    }
  }
  TwoAfcImageConfidenceResponsePlugin.info = info;

  return TwoAfcImageConfidenceResponsePlugin;
})(jsPsychModule);
