/*
 * The 2-AFC experiment page: a jsPsych timeline built from one task's index.json (protocol §7).
 *
 * URL parameters: aid (the assignment the server handed out; it names experiment and task),
 * ni (no instructions), nd (no practice block), fast (tests only: waits are 10 times shorter and
 * every data row carries test_fast: true, so such payloads are marked and fail the timing check).
 *
 * Timeline: window-size check, preload, welcome, the instruction pages of the experiment folder,
 * fullscreen, the practice block (repeated until every practice trial is correct), the main
 * trials, a free-text feedback question, submit, end screen. The queries' order and the reference
 * shuffles come from Math.random seeded with the task name, so they are the same for every
 * participant of a task.
 */
(function () {
  "use strict";

  const TRIAL_TYPE = "2afc-image-confidence-response";
  const MIN_WINDOW = { width: 940, height: 600 };
  const N_OBVIOUS_SHOWN = 4; // practice trials per attempt: 4 obvious + 1 non-obvious
  const N_NON_OBVIOUS_SHOWN = 1;
  const PROMPT = "<p>Which image at the center matches the <b>Right Examples</b> better?</p>";
  // The text pages before the instruction images, and the caption shown above image n of the
  // experiment's instructions/ folder (page n illustrates caption n; 13 only for synthetic).
  const INTRO_PAGES = [
    "In this experiment you will see images on the screen and answer by clicking with your mouse.",
    "You will answer many trials like the one we show next.<br>First we explain how a single trial works.",
  ];
  const CAPTIONS = {
    1: "On the left and on the right of the screen you see two groups of example images,<br>titled <b>Left Examples</b> and <b>Right Examples</b>.",
    2: "In the centre there are two more images.<br>One of them belongs with the Left Examples, the other one with the Right Examples.",
    3: "Your question is always the same:<br>which of the two centre images matches the <b>Right Examples</b> better?",
    4: "You answer with the numbers. One row of numbers sits just below the upper centre image.",
    5: "A second row of numbers sits just above the lower centre image.",
    6: "If the <b>upper</b> image matches the Right Examples better,<br>click a number in the <b>upper</b> row.",
    7: "If the <b>lower</b> image matches the Right Examples better,<br>click a number in the <b>lower</b> row.",
    8: "The number says how sure you are: the higher the number, the surer you are.<br>When you are not sure, give your best guess.",
    13: "The first image of each group of examples is special and may look a little different from the others.<br>When in doubt, give it the most weight.",
    9: "After you answer, a black frame marks the image you chose.",
    10: "Then you see whether you were right: a green frame if you chose the image that belongs to<br>the Right Examples, a red frame if you did not.",
    "10-end": "That is the end of one trial. Every trial stands on its own:<br>what you saw in one trial does not help you in the next one.",
    11: "Click <i>Continue</i> to go on to the next trial.",
    12: "This is your last chance to read the instructions again with <i>Previous</i>.<br>Otherwise we start with a few practice trials, so that you get to know the task.",
  };
  const CAPTION_ORDER = [1, 2, 3, 4, 5, 6, 7, 8, 13, 9, 10, "10-end", 11, 12];

  function showError(message) {
    document.getElementById("jspsych-target").innerHTML =
      `<div class="imi-message"><p>${message}</p></div>`;
  }

  async function fetchJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) {
      const text = await response.text();
      throw new Error(`${response.status}: ${text}`);
    }
    return response.json();
  }

  /** A layout template with its {fields} filled in. */
  function fill(template, fields) {
    return template.replace(/\{(\w+)\}/g, (_, name) => String(fields[name]));
  }

  /**
   * Every trial of a task folder with absolute image URLs (references ordered _8, _7, ...).
   * `layout` holds the trial folder's templates (the server's copy of unitpsych.ui_layout).
   */
  function taskTrials(index, isDemo, layout) {
    const base = new URL(`experiments/${index.task_name}/`, window.location.origin);
    const nReferences = parseInt(index.n_reference_images, 10);
    const catchTrials = index.catch_trial_idxs || [];
    const trials = [];
    for (let i = 1; i <= index.n_trials; i++) {
      const url = (path) => new URL(`${fill(layout.trial, { trial: i })}/${path}`, base).href;
      const minReferences = [];
      const maxReferences = [];
      for (let j = 8; j > 8 - nReferences; j--) {
        minReferences.push(url(fill(layout.reference, { side: "min", index: j })));
        maxReferences.push(url(fill(layout.reference, { side: "max", index: j })));
      }
      trials.push({
        id: i,
        min_query: url(fill(layout.query, { side: "min" })),
        max_query: url(fill(layout.query, { side: "max" })),
        min_references: minReferences,
        max_references: maxReferences,
        catch_trial: catchTrials.includes(i),
        is_demo: isDemo,
      });
    }
    return trials;
  }

  /** Instruction pages: the intro text, then each image of the folder under its caption. */
  function instructionPages(imageUrls) {
    const byNumber = new Map(
      imageUrls.map((url) => [parseInt(url.split("/").pop(), 10), url])
    );
    const page = (caption, url) =>
      `<p class="imi-caption">${caption}</p><img class="imi-instruction" src="${url}" alt="">`;
    const pages = INTRO_PAGES.map((text) => `<p class="imi-caption">${text}</p>`);
    for (const key of CAPTION_ORDER) {
      const number = key === "10-end" ? 10 : key;
      if (byNumber.has(number)) pages.push(page(CAPTIONS[key], byNumber.get(number)));
    }
    const extra = [...byNumber.keys()].filter((n) => !(n in CAPTIONS)).sort((a, b) => a - b);
    return pages.concat(extra.map((n) => page("", byNumber.get(n))));
  }

  /** The most extreme reference stays first; the other eight are shuffled (seeded). */
  function shuffledReferences(jsPsych, trial) {
    const shuffle = (refs) => [refs[0]].concat(jsPsych.randomization.shuffle(refs.slice(1)));
    return {
      ...trial,
      min_references: shuffle(trial.min_references),
      max_references: shuffle(trial.max_references),
    };
  }

  async function main() {
    const params = new URLSearchParams(window.location.search);
    const aid = params.get("aid");
    const noInstructions = params.has("ni");
    const noDemo = params.has("nd");
    const fast = params.has("fast");
    const speed = fast ? 0.1 : 1;

    let assignment, mainIndex, demoIndex;
    try {
      assignment = await fetchJson(`api/assignment?aid=${encodeURIComponent(aid || "")}`);
      [mainIndex, demoIndex] = await Promise.all([
        fetchJson(assignment.index_url),
        fetchJson(assignment.demo_index_url),
      ]);
    } catch (err) {
      showError(`This task could not be started (${err.message}). Please reload the page or contact the researchers.`);
      return;
    }

    Math.seedrandom(mainIndex.task_name);
    let rowIndex = 0;
    const jsPsych = initJsPsych({
      display_element: "jspsych-target",
      show_progress_bar: true,
      auto_update_progress_bar: false,
      message_progress_bar: "Progress",
      // jsPsych 8 also counts the conditional pages that were skipped; number the rows that ran,
      // 0, 1, 2, ... as jsPsych 6 did (the main block's trial_index then gives the trial number).
      on_trial_finish: (data) => {
        data.trial_index = rowIndex++;
      },
    });
    if (fast) {
      jsPsych.data.addProperties({ test_fast: true });
    }
    const setProgress = (value) => {
      jsPsych.progressBar.progress = Math.min(1, value);
    };
    // jsPsych 6's internal_node_id ("<child>.<iteration>" per timeline level), kept in every row.
    const nodeId = (...levels) => ["0.0", ...levels].join("-");

    // Main trials: reference order and query placement drawn here, right after seeding, so every
    // participant of a task sees the same screens whatever happens in the practice block.
    const mainTrials = taskTrials(mainIndex, false, assignment.layout).map((t) => ({
      ...shuffledReferences(jsPsych, t),
      switched_queries: Math.random() > 0.5,
    }));
    const demoTrials = taskTrials(demoIndex, true, assignment.layout).map((t) => shuffledReferences(jsPsych, t));
    const instructionImages = assignment.instructions.map(
      (path) => new URL(path, window.location.origin).href
    );

    const timeline = [];
    const top = () => `${timeline.length}.0`;

    timeline.push({
      type: jsPsychBrowserCheck,
      // Only what the study needs: the window size (no webcam, microphone or frame-rate probes).
      features: ["width", "height", "browser", "browser_version", "mobile", "os"],
      minimum_width: MIN_WINDOW.width,
      minimum_height: MIN_WINDOW.height,
      data: { internal_node_id: nodeId(top()) },
    });
    timeline.push({
      type: jsPsychPreload,
      images: instructionImages.concat(
        ...mainTrials.concat(demoTrials).map((t) =>
          [t.min_query, t.max_query].concat(t.min_references, t.max_references)
        )
      ),
      show_progress_bar: true,
      message: "<p>Loading the images ...</p>",
      error_message: "<p>The images could not be loaded. Please reload the page.</p>",
      data: { internal_node_id: nodeId(top()) },
    });

    if (!noInstructions) {
      timeline.push({
        type: jsPsychInstructions,
        pages: ["<p>Welcome to this experiment!<br>It will start soon.</p>"],
        show_clickable_nav: true,
        data: { internal_node_id: nodeId(top()) },
        on_finish: () => setProgress(0.01),
      });
      timeline.push({
        type: jsPsychInstructions,
        pages: instructionPages(instructionImages),
        show_clickable_nav: true,
        data: { internal_node_id: nodeId(top()) },
        on_finish: () => setProgress(0.05),
      });
    }

    timeline.push({
      type: jsPsychFullscreen,
      fullscreen_mode: true,
      message: "<p>The experiment will switch to full screen mode when you press the button below.</p>",
      data: { internal_node_id: nodeId(top()) },
    });

    const correctCounter = { count: 0 };
    /** A block of 2-AFC trials; `pick(slot)` gives the trial shown in a slot. */
    function trialBlock(nSlots, pick, isDemo, progressStart, progressEnd, idPrefix) {
      const variable = (name) => () => pick(jsPsych.evaluateTimelineVariable("slot"))[name];
      return {
        timeline: [
          {
            type: jsPsych2afcImageConfidenceResponse,
            query_a_stimulus: variable("min_query"),
            query_b_stimulus: variable("max_query"),
            reference_a_stimuli: variable("min_references"),
            reference_b_stimuli: variable("max_references"),
            reference_a_title: "Left Examples",
            reference_b_title: "Right Examples",
            choices: ["1", "2", "3", "1", "2", "3"],
            prompt: PROMPT,
            randomize_queries: true,
            switched_queries: isDemo ? null : variable("switched_queries"),
            correct_query_choice: "b",
            initial_wait_duration: 1500 * speed,
            feedback_delay_duration: 350 * speed,
            feedback_duration: 1150 * speed,
            on_presentation_callback: isDemo
              ? null
              : (display) =>
                  display.insertAdjacentHTML(
                    "afterbegin",
                    `<p class="imi-counter">Correct Answers: <b>${correctCounter.count}</b></p>`
                  ),
            trial_completed_callback: isDemo
              ? null
              : (response) => {
                  correctCounter.count += response.correct ? 1 : 0;
                },
            data: {
              min_query: variable("min_query"),
              max_query: variable("max_query"),
              min_references: variable("min_references"),
              max_references: variable("max_references"),
              catch_trial: variable("catch_trial"),
              is_demo: isDemo,
              internal_node_id: () =>
                `${idPrefix()}-0.${jsPsych.evaluateTimelineVariable("slot")}`,
            },
            on_finish: () =>
              setProgress(
                progressStart +
                  ((progressEnd - progressStart) * (jsPsych.evaluateTimelineVariable("slot") + 1)) /
                    nSlots
              ),
          },
        ],
        timeline_variables: Array.from({ length: nSlots }, (_, slot) => ({ slot })),
      };
    }

    if (!noDemo) {
      const nObvious =
        demoIndex.n_obvious_trials !== undefined ? demoIndex.n_obvious_trials : demoTrials.length;
      const obvious = demoTrials.slice(0, nObvious);
      const nonObvious = demoTrials.slice(nObvious);
      const nShown =
        Math.min(N_OBVIOUS_SHOWN, obvious.length) + Math.min(N_NON_OBVIOUS_SHOWN, nonObvious.length);
      const attempt = { number: -1, trials: [], allCorrect: false };
      const demoPos = timeline.length;
      const attemptId = (child) => nodeId(`${demoPos}.${attempt.number}`, `${child}.0`);
      const allCorrect = (data) =>
        data
          .filter({ trial_type: TRIAL_TYPE })
          .values()
          .every((row) => row.correct);

      timeline.push({
        timeline: [
          {
            // Each attempt starts by drawing its trials: 4 obvious and 1 non-obvious, in random order.
            type: jsPsychCallFunction,
            func: () => {
              attempt.number += 1;
              const picked = jsPsych.randomization
                .shuffle(obvious)
                .slice(0, N_OBVIOUS_SHOWN)
                .concat(jsPsych.randomization.shuffle(nonObvious).slice(0, N_NON_OBVIOUS_SHOWN));
              attempt.trials = jsPsych.randomization.shuffle(picked);
              return attempt.trials.map((t) => t.id);
            },
            data: { internal_node_id: () => attemptId(0) },
          },
          trialBlock(nShown, (slot) => attempt.trials[slot], true, 0.1, 0.2, () => attemptId(1)),
          {
            timeline: [
              {
                type: jsPsychInstructions,
                pages: ["<p>As you did not answer all trials correctly, we'd like you to repeat them.</p>"],
                show_clickable_nav: true,
                allow_backward: false,
                data: { internal_node_id: () => attemptId(2) },
                on_finish: () => setProgress(0.1),
              },
            ],
            conditional_function: () => {
              // The last timeline is this attempt's trial block.
              attempt.allCorrect = allCorrect(jsPsych.data.getLastTimelineData());
              return !attempt.allCorrect;
            },
          },
          {
            timeline: [
              {
                type: jsPsychInstructions,
                pages: ["<p>Great! Let's now start with the real trials!</p>"],
                show_clickable_nav: true,
                allow_backward: false,
                key_forward: "Enter",
                button_label_next: "Continue (Enter)",
                data: { internal_node_id: () => attemptId(3) },
              },
            ],
            conditional_function: () => attempt.allCorrect,
          },
        ],
        loop_function: (data) => !allCorrect(data),
      });
    }

    const mainPos = timeline.length;
    timeline.push(
      trialBlock(mainTrials.length, (slot) => mainTrials[slot], false, 0.2, 0.95, () =>
        nodeId(`${mainPos}.0`)
      )
    );

    timeline.push({
      type: jsPsychSurveyText,
      questions: [
        {
          prompt: "Optional: Is there any feedback you'd like to share with us?",
          name: "feedback",
          rows: 8,
          columns: 80,
          required: false,
        },
      ],
      data: { internal_node_id: nodeId(top()) },
    });
    timeline.push({
      type: jsPsychInstructions,
      pages: [
        "<p>Press Continue to submit your data; this can take a moment.<br>Please do not close the window until we tell you to do so.</p>",
      ],
      show_clickable_nav: true,
      allow_backward: false,
      key_forward: "Enter",
      button_label_next: "Continue (Enter)",
      data: { internal_node_id: nodeId(top()) },
    });

    const submission = { redirect: null };
    timeline.push({
      type: jsPsychCallFunction,
      async: true,
      func: (done) => {
        const payload = JSON.stringify({
          main_data: jsPsych.data.get().filter({ trial_type: TRIAL_TYPE }).json(),
          raw_data: jsPsych.data.get().json(),
          task_id: assignment.task_id,
        });
        submit(payload, aid).then(
          (result) => {
            submission.redirect = result.redirect;
            done(result.status);
          },
          (err) => {
            jsPsych.abortExperiment(
              `<div class="imi-message"><p>Your responses could not be submitted (${err.message}).</p>` +
                "<p>Please keep this window open and contact the researchers.</p></div>"
            );
          }
        );
      },
      data: { internal_node_id: nodeId(top()) },
      on_finish: () => setProgress(0.95),
    });
    timeline.push({
      type: jsPsychHtmlKeyboardResponse,
      stimulus:
        '<div class="imi-message"><p>Your responses have been saved and submitted.</p>' +
        "<p>Thanks for your participation!</p><p>You will be redirected in a few seconds.</p></div>",
      choices: "NO_KEYS",
      on_start: () => setProgress(1.0),
      on_load: () => {
        jsPsych.pluginAPI.setTimeout(() => {
          window.location.assign(submission.redirect);
        }, 3000 * speed);
      },
      data: { internal_node_id: nodeId(top()) },
    });

    jsPsych.run(timeline);
  }

  /** POST the payload; retry network failures a few times; 409 means it is already stored. */
  async function submit(payload, aid) {
    const url = `api/submit?aid=${encodeURIComponent(aid)}`;
    let lastError = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: payload,
        });
        const body = await response.json().catch(() => ({}));
        if (response.ok || response.status === 409) {
          return { status: response.status, redirect: body.redirect || "done" };
        }
        if (response.status < 500 && response.status !== 429) {
          throw new Error(`${response.status}: ${body.error || response.statusText}`);
        }
        lastError = new Error(`${response.status}: ${body.error || response.statusText}`);
      } catch (err) {
        if (err.message && /^\d{3}:/.test(err.message) && !/^(5\d\d|429):/.test(err.message)) {
          throw err;
        }
        lastError = err;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000 * (attempt + 1)));
    }
    throw lastError;
  }

  window.addEventListener("load", main);
})();
