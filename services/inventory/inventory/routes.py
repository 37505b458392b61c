"""The movies API: list/search, create, delete all, and read/update/delete one movie."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import CursorResult, delete, select, update

from inventory.db import session
from inventory.models import TITLE_MAX_LENGTH, Movie
from inventory.search import like_pattern, normalize_title, title_matches
from inventory.validation import movie_fields
from nbship_common.errors import ApiError
from nbship_common.validation import bad_request, query_int, read_json_object, text_problem

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Ids are PostgreSQL INTEGERs; a larger number in a URL cannot name a movie.
MAX_ID = 2**31 - 1

bp = Blueprint("movies", __name__)


@bp.get("/api/movies")
def list_movies() -> Response:
    """Movies in id order, optionally filtered by title; bounded by limit/offset/after_id."""
    limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = query_int("offset", 0, minimum=0, maximum=MAX_ID)
    after_id = query_int("after_id", 0, minimum=0, maximum=MAX_ID)
    query = select(Movie).order_by(Movie.id).where(Movie.id > after_id)
    title = request.args.get("title")
    if title is not None:
        problem = text_problem(title, max_length=TITLE_MAX_LENGTH, allow_empty=False)
        if problem is not None:
            bad_request("invalid query parameter 'title'", {"title": problem})
        query = query.where(Movie.title.ilike(like_pattern(normalize_title(title)), escape="\\"))
    movies = session().scalars(query.limit(limit).offset(offset)).all()
    if title is not None:
        # ILIKE narrows the rows in the database; title_matches (casefold, whitespace-insensitive)
        # is the definition of a match, so the rare ILIKE-only hit is dropped here.
        movies = [movie for movie in movies if title_matches(title, movie.title)]
    return jsonify({"movies": [movie.to_dict() for movie in movies]})


@bp.post("/api/movies")
def create_movie() -> tuple[Response, int, dict[str, str]]:
    """Create a movie from {"title", "description"}."""
    fields = movie_fields(read_json_object(), partial=False)
    db = session()
    movie = Movie(**fields)
    db.add(movie)
    db.commit()
    location = url_for("movies.get_movie", movie_id=movie.id)
    return jsonify(movie.to_dict()), 201, {"Location": location}


@bp.delete("/api/movies")
def delete_movies() -> Response:
    """Delete every movie."""
    db = session()
    result = cast(CursorResult[Any], db.execute(delete(Movie)))
    db.commit()
    return jsonify({"deleted": result.rowcount})


@bp.get("/api/movies/<int:movie_id>")
def get_movie(movie_id: int) -> Response:
    """One movie."""
    _check_id(movie_id)
    movie = session().get(Movie, movie_id)
    if movie is None:
        raise _not_found(movie_id)
    return jsonify(movie.to_dict())


@bp.put("/api/movies/<int:movie_id>")
def update_movie(movie_id: int) -> Response:
    """Change the title and/or description of one movie."""
    _check_id(movie_id)
    fields = movie_fields(read_json_object(), partial=True)
    db = session()
    # One UPDATE ... RETURNING: no read-modify-write race with a concurrent delete.
    statement = update(Movie).where(Movie.id == movie_id).values(**fields).returning(Movie)
    movie = db.scalars(statement, execution_options={"synchronize_session": False}).one_or_none()
    db.commit()
    if movie is None:
        raise _not_found(movie_id)
    return jsonify(movie.to_dict())


@bp.delete("/api/movies/<int:movie_id>")
def delete_movie(movie_id: int) -> Response:
    """Delete one movie and return what it was."""
    _check_id(movie_id)
    db = session()
    statement = delete(Movie).where(Movie.id == movie_id).returning(Movie)
    movie = db.scalars(statement, execution_options={"synchronize_session": False}).one_or_none()
    db.commit()
    if movie is None:
        raise _not_found(movie_id)
    return jsonify(movie.to_dict())


def _check_id(movie_id: int) -> None:
    if movie_id > MAX_ID:
        raise _not_found(movie_id)


def _not_found(movie_id: int) -> ApiError:
    return ApiError(404, "movie not found", {"id": movie_id})
