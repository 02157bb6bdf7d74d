"""The class gallery: a paged leaderboard per exercise, settings vs accuracy, curves, CSV downloads.

One view reads the exercise's entries without their curves (the bulk of an entry), draws 50 leaderboard rows
at a time, reads curves only for the runs picked in the Curves tab, and builds a CSV only when its button is
pressed.
"""
import altair as alt
import pandas as pd
import streamlit as st

from cnn_core.classroom import GalleryError, GalleryStore
from cnn_core.classroom.leaderboard import (chart_settings, count_text, drawable_curves, exercise_title,
                                            leaderboard_page, page_count, readable, sorted_board)
from cnn_core.classroom.tables import curves_frame, entries_frame, spreadsheet_safe
from pages.common import links
from pages.common.classroom.publish import open_gallery
from pages.common.classroom.teacher import page_link_to, teacher_login, teacher_panel

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


LEADERBOARD_COLUMNS = ["rank", "nickname", "val_accuracy", "seed", "published", "notes", "id"]


def leaderboard(frame: pd.DataFrame) -> None:
    """The exercise's runs, sortable by any metric or setting, one page of rows (PAGE_ROWS) at a time."""
    sortable = ["val_accuracy"] + [c for c in frame.columns if c.startswith("metric.")] + chart_settings(frame)
    left, middle, right = ui.columns([3, 1, 1])
    by = left.selectbox("Sort by", sortable, key="gal_sort", format_func=readable)
    ascending = middle.toggle("Lowest first", key="gal_ascending", value=by.endswith("loss"))
    board = sorted_board(frame, by, ascending)
    pages = page_count(len(board))
    if int(st.session_state.get("gal_page", 1) or 1) > pages:  # a page of a longer exercise seen before
        st.session_state["gal_page"] = 1
    page = right.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key="gal_page",
                              disabled=pages == 1)
    shown = leaderboard_page(board, page)
    fixed = set(LEADERBOARD_COLUMNS) | {"exercise", "page", "hidden", "query"}
    # the settings that differ between the runs (at most 12 columns): what the class is comparing
    settings = [c for c in board.columns if c not in fixed and board[c].astype(str).nunique() > 1][:12]
    columns = LEADERBOARD_COLUMNS[:3] + settings + LEADERBOARD_COLUMNS[3:]
    config = {c: st.column_config.Column(readable(c)) for c in columns}
    config |= {"val_accuracy": st.column_config.ProgressColumn("validation accuracy", min_value=0.0, max_value=1.0,
                                                               format="percent"),
               "nickname": st.column_config.TextColumn("nickname"),
               "notes": st.column_config.TextColumn("notes", width="medium")}
    st.dataframe(shown[columns], hide_index=True, width="stretch", column_config=config)
    if pages > 1:
        st.caption(f"Rows {shown['rank'].iloc[0]}-{shown['rank'].iloc[-1]} of {len(board)}.")


def settings_chart(frame: pd.DataFrame) -> None:
    """One setting (x) against the validation accuracy (y), one point per run that has both."""
    settings = chart_settings(frame)
    if not settings or frame["val_accuracy"].notna().sum() < 2:
        st.caption("The chart appears once two runs with different numeric settings have a validation accuracy.")
        return
    x = ui.selectbox("Setting", settings, key="gal_x", format_func=readable)
    data = frame[["id", "nickname", "seed", "val_accuracy"]].assign(setting=pd.to_numeric(frame[x], errors="coerce"))
    data = data.dropna(subset=["val_accuracy", "setting"])
    if len(data) < 2:
        st.caption(f"Fewer than two runs set {readable(x)} and have a validation accuracy.")
        return
    log = bool((data["setting"] > 0).all() and data["setting"].max() / max(data["setting"].min(), 1e-300) >= 100)
    chart = alt.Chart(data).mark_circle(size=90, opacity=0.8).encode(
        x=alt.X("setting:Q", title=readable(x), scale=alt.Scale(type="log" if log else "linear")),
        y=alt.Y("val_accuracy:Q", title="validation accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("nickname:N", legend=alt.Legend(title="student")),
        tooltip=["id", "nickname", "seed", alt.Tooltip("setting:Q", title=readable(x), format=".4g"),
                 alt.Tooltip("val_accuracy:Q", title="validation accuracy", format=".2%")])
    st.altair_chart(chart.interactive(), width="stretch")


def curves_chart(store: GalleryStore, frame: pd.DataFrame) -> None:
    """The curves of up to 10 runs a student picks (read from the database only for those), one panel per metric."""
    labels = {int(r.id): f"#{r.id} {r.nickname}" for r in frame.itertuples()}
    chosen = ui.multiselect("Compare the curves of", list(labels), default=list(labels)[:3], key="gal_curves",
                            format_func=labels.get, max_selections=10)
    if not chosen:
        return
    rows = store.curves(chosen)
    picked = frame[frame["id"].isin(list(rows))].assign(curves=lambda f: f["id"].map(rows))
    curves = curves_frame(_CurveEntry(int(r.id), r.nickname, r.curves) for r in picked.itertuples())
    data, x = drawable_curves(curves)
    if data.empty:
        st.caption("These runs published no curves.")
        return
    run = " " + data["run"].astype(str) if "run" in data else ""
    data = data.assign(run_label=data["entry_id"].map(labels) + run)
    color = alt.Color("run_label:N", title="run", legend=alt.Legend(orient="bottom", columns=2, labelLimit=300))
    dash = alt.StrokeDash("split:N", title="split") if "split" in data else alt.Undefined
    chart = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title=x, axis=alt.Axis(tickMinStep=1)), y=alt.Y("value:Q", scale=alt.Scale(zero=False)),
        color=color, strokeDash=dash, tooltip=["run_label", x, alt.Tooltip("value:Q", format=".4g")])
    if "metric" in data:
        chart = chart.properties(width=360, height=220).facet(facet=alt.Facet("metric:N", title=None), columns=2)
        chart = chart.resolve_scale(y="independent")
    st.altair_chart(chart, width="stretch")


class _CurveEntry:
    """What curves_frame reads of an entry: id, nickname, curves."""

    def __init__(self, entry_id: int, nickname: str, curves: list) -> None:
        self.id, self.nickname, self.curves = entry_id, nickname, curves


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
    """Everything as CSV, built only when a button is pressed: one row per entry, and the curves (tidy)."""
    def entries_csv() -> str:
        return spreadsheet_safe(entries_frame(store.entries(with_curves=False))).to_csv(index=False)

    def curves_csv() -> str:
        return spreadsheet_safe(curves_frame(store.entries())).to_csv(index=False)

    left, right = ui.columns(2)
    left.download_button("⬇️ All entries (CSV)", entries_csv, "gallery_entries.csv", "text/csv", key="gal_csv",
                         on_click="ignore")
    right.download_button("⬇️ All curves (CSV)", curves_csv, "gallery_curves.csv", "text/csv",
                          key="gal_curves_csv", on_click="ignore")


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
    exercise = ui.selectbox("Exercise", exercises, key="gal_exercise", format_func=exercise_title)
    entries = store.entries(exercise, include_hidden=teacher, with_curves=False)
    frame = entries_frame(entries)
    st.caption(f"{count_text(len(entries))} in the exercise **{exercise_title(exercise)}**"
               + (f" (hidden ones included; stored in {store.describe()})" if teacher else "") + ".")
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
        curves_chart(store, frame)
    with setup_tab:
        open_setup(frame)
    downloads(store)


def main() -> None:
    """The intro, then the class's exercises from the gallery store."""
    st.set_page_config(page_title="Class gallery", page_icon="🏆", layout="wide")
    links.start_page()
    st.title("🏆 Class gallery")
    st.markdown(
        "Runs your class published from the training pages (**📤 Publish to the class gallery** under a finished "
        "run): a leaderboard per exercise, how each setting relates to the validation accuracy, and a link that "
        "opens any run's setup on its page so you can reproduce it (same settings, same seed, same curves)."
    )
    store = open_gallery()
    if store is not None:
        try:
            gallery(store, teacher_login())
        except GalleryError as exc:
            st.error(str(exc))


main()
links.finish_page()
