"""The class gallery: every published run, a leaderboard per exercise, settings vs accuracy, CSV downloads."""
import altair as alt
import pandas as pd
import streamlit as st

from cnn_core.classroom import GalleryError, GalleryStore
from cnn_core.classroom.tables import curves_frame, entries_frame, numeric_settings, spreadsheet_safe
from pages.common import links
from pages.common.classroom.publish import open_gallery
from pages.common.classroom.teacher import page_link_to, teacher_login, teacher_panel

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

st.set_page_config(page_title="Class gallery", page_icon="🏆", layout="wide")
links.start_page()
st.title("🏆 Class gallery")
st.markdown(
    "Runs your class published from the training pages (**📤 Publish to the class gallery** under a finished "
    "run): a leaderboard per exercise, how each setting relates to the validation accuracy, and a link that "
    "opens any run's setup on its page so you can reproduce it (same settings, same seed, same curves)."
)

LEADERBOARD_COLUMNS = ["rank", "nickname", "val_accuracy", "seed", "published", "notes", "id"]


def leaderboard(frame: pd.DataFrame) -> None:
    """The exercise's runs, sortable by any metric or setting."""
    sortable = ["val_accuracy"] + [c for c in frame.columns if c.startswith("metric.")] + numeric_settings(frame)
    left, right = ui.columns([3, 1])
    by = left.selectbox("Sort by", sortable, key="gal_sort",
                        format_func=lambda c: c.removeprefix("metric.").replace("_", " "))
    ascending = right.toggle("Lowest first", key="gal_ascending", value=by.endswith("loss"))
    frame = frame.sort_values([by, "id"], ascending=[ascending, True], na_position="last")
    frame = frame.assign(rank=range(1, len(frame) + 1))
    fixed = set(LEADERBOARD_COLUMNS) | {"exercise", "page", "hidden", "query"}
    # the settings that differ between the runs (at most 12 columns): what the class is comparing
    settings = [c for c in frame.columns if c not in fixed and frame[c].astype(str).nunique() > 1][:12]
    st.dataframe(frame[LEADERBOARD_COLUMNS[:3] + settings + LEADERBOARD_COLUMNS[3:]], hide_index=True,
                 width="stretch", column_config={
                     "val_accuracy": st.column_config.ProgressColumn("val accuracy", min_value=0.0, max_value=1.0,
                                                                     format="percent"),
                     "nickname": st.column_config.TextColumn("nickname"),
                     "notes": st.column_config.TextColumn("notes", width="medium")})


def settings_chart(frame: pd.DataFrame) -> None:
    """One setting (x) against the validation accuracy (y), one point per run."""
    settings = numeric_settings(frame)
    if not settings or frame["val_accuracy"].notna().sum() < 2:
        st.caption("The chart appears once two runs with different numeric settings have a validation accuracy.")
        return
    x = ui.selectbox("Setting", settings, key="gal_x")
    data = frame[["id", "nickname", "seed", "val_accuracy", x]].dropna().assign(**{x: lambda f: f[x].astype(float)})
    log = bool((data[x] > 0).all() and data[x].max() / max(data[x].min(), 1e-300) >= 100)
    chart = alt.Chart(data).mark_circle(size=90, opacity=0.8).encode(
        x=alt.X(f"{x}:Q", title=x, scale=alt.Scale(type="log" if log else "linear")),
        y=alt.Y("val_accuracy:Q", title="validation accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("nickname:N", legend=alt.Legend(title="student")),
        tooltip=["id", "nickname", "seed", alt.Tooltip(f"{x}:Q", format=".4g"),
                 alt.Tooltip("val_accuracy:Q", format=".2%")])
    st.altair_chart(chart.interactive(), width="stretch")


def curves_chart(entries: list) -> None:
    """The curves of the runs a student picks, one colour per run, one panel per metric."""
    curves = curves_frame(entries)
    if curves.empty or "value" not in curves or "epoch" not in curves:
        return
    labels = {e.id: f"#{e.id} {e.nickname}" for e in entries if e.curves}
    chosen = ui.multiselect("Compare the curves of", list(labels), default=list(labels)[:3], key="gal_curves",
                            format_func=labels.get, max_selections=10)
    data = curves[curves["entry_id"].isin(chosen)].dropna(subset=["value", "epoch"])
    if data.empty:
        return
    run = data["run"].astype(str) if "run" in data else ""
    data = data.assign(run_label=data["entry_id"].map(labels) + " " + run)
    color = alt.Color("run_label:N", title="run", legend=alt.Legend(orient="bottom", columns=2, labelLimit=300))
    dash = alt.StrokeDash("split:N") if "split" in data else alt.Undefined
    chart = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("epoch:Q"), y=alt.Y("value:Q", scale=alt.Scale(zero=False)), color=color, strokeDash=dash,
        tooltip=["run_label", "epoch", alt.Tooltip("value:Q", format=".4g")])
    if "metric" in data:
        chart = chart.properties(width=360, height=220).facet(facet=alt.Facet("metric:N", title=None), columns=2)
        chart = chart.resolve_scale(y="independent")
    st.altair_chart(chart, width="stretch")


def open_setup(frame: pd.DataFrame) -> None:
    """A link that opens a run's page with its settings (its lesson link)."""
    options = frame.sort_values("val_accuracy", ascending=False, na_position="last")
    labels = {int(r.id): f"#{r.id} {r.nickname} ({r.page.split('_', 1)[-1].removesuffix('.py')})"
              for r in options.itertuples()}
    chosen = ui.selectbox("Run", list(labels), format_func=labels.get, key="gal_open")
    row = frame[frame["id"] == chosen].iloc[0]
    page_link_to(row["page"], row["query"], "Open this run's setup")
    st.caption(f"Seed {row['seed']}; the link sets: `{row['query'] or 'the defaults'}`")


def downloads(store: GalleryStore) -> None:
    """Everything as CSV: one row per entry, and the curves (tidy)."""
    everything = store.entries(include_hidden=False)
    left, right = ui.columns(2)
    left.download_button("⬇️ All entries (CSV)", spreadsheet_safe(entries_frame(everything)).to_csv(index=False),
                         "gallery_entries.csv", "text/csv", key="gal_csv")
    right.download_button("⬇️ All curves (CSV)", spreadsheet_safe(curves_frame(everything)).to_csv(index=False),
                          "gallery_curves.csv", "text/csv", key="gal_curves_csv")


def gallery(store: GalleryStore, teacher: bool) -> None:
    """The page body for one exercise at a time."""
    exercises = store.exercises()
    if teacher:
        teacher_panel(store, exercises)
        exercises = store.exercises()
    if not exercises:
        st.info("Nothing published yet. Train something on the Train, Optimizers, Regularization, Weight "
                "Initialization or Tuning page and press **Publish** under the result.")
        return
    exercise = ui.selectbox("Exercise", exercises, key="gal_exercise")
    entries = store.entries(exercise, include_hidden=teacher)
    frame = entries_frame(entries)
    st.caption(f"{len(entries)} runs in **{exercise}**" + (f" (hidden ones included; stored in {store.describe()})"
                                                            if teacher else "") + ".")
    if frame.empty:
        st.info("Every run of this exercise is hidden.")
        return
    board, chart, curves, setup_tab = ui.tabs(["🏅 Leaderboard", "📈 Settings vs accuracy", "📉 Curves",
                                           "🔗 Open a setup"])
    with board:
        leaderboard(frame)
    with chart:
        settings_chart(frame)
    with curves:
        curves_chart(entries)
    with setup_tab:
        open_setup(frame)
    downloads(store)


store = open_gallery()
if store is not None:
    try:
        gallery(store, teacher_login())
    except GalleryError as exc:
        st.error(str(exc))
links.finish_page()
