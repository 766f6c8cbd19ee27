"""Furniture of the rich synthetic world: compound objects built from the four primitives, placed in a room.

Real rooms are full of objects made of parts at right angles: tables (a thin top on legs), shelves (boards between
two sides, things on the boards), boxes stacked on boxes, cabinets and beds against the walls. A model that has only
seen isolated convex solids on an empty floor has never had to tell a table's top from the floor seen between its
legs, or a thin board from a wall; these groups make it learn that. Every part is a `raycast.Solid` (its own
instance and the class of its primitive), so labels stay exact.

A group is built in its own frame (origin on the floor under its centre, y up, yaw 0, its back towards +z) and then
placed: in front of the camera, or with its back against a wall. In half the scenes the first group is a subject
close in front of the camera (HERO_PROB): photos are framed around a subject, near and central, which a room of
randomly placed furniture seldom shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .raycast import SHAPES, Solid

KINDS = ("single", "table", "shelf", "stack", "cabinet")
KIND_WEIGHTS = (0.35, 0.2, 0.15, 0.15, 0.15)
AGAINST_WALL = {"shelf": 0.9, "cabinet": 0.7, "table": 0.2, "stack": 0.3, "single": 0.1}  # probability
# sizes (metres): ranges of half extents unless named otherwise
BOX_HALF, SPHERE_RADIUS = ((0.12, 0.12, 0.12), (0.6, 0.6, 0.6)), (0.12, 0.5)
ROUND_RADIUS, ROUND_HALF_HEIGHT = (0.08, 0.45), (0.1, 0.7)
FLOAT_PROB, FLOAT_HEIGHT = 0.1, (0.4, 2.0)  # floating singles (as in the classic world): their bottoms show
SMALL = 0.45  # items on tables and shelves are this much smaller than singles
TABLE_HALF, TABLE_HEIGHT, TABLE_TOP, LEG_HALF = ((0.3, 0.25), (0.9, 0.6)), (0.4, 0.8), (0.015, 0.04), (0.02, 0.05)
SHELF_WIDTH, SHELF_DEPTH, SHELF_HEIGHT, BOARD_HALF, SHELF_BOARDS = (0.5, 1.6), (0.25, 0.45), (0.6, 2.1), 0.012, (2, 5)
CABINET_HALF = ((0.3, 0.2, 0.2), (1.0, 0.5, 0.9))
STACK_BOXES, STACK_SHRINK = (2, 4), (0.5, 0.95)
ITEMS = (0, 3)  # things on a table or on a shelf's boards
WALL_GAP, GROUP_GAP, CAMERA_CLEARANCE, PLACEMENT_TRIES = 0.01, 0.05, 0.4, 15
VIEW_DISTANCE, VIEW_FILL = (0.8, 8.0), 0.9
HERO_PROB, HERO_GAP, HERO_LATERAL = 0.5, (0.1, 1.2), 0.25  # the subject: its gap (m) beyond the clearances


@dataclass
class Group:
    """A placed compound object: its parts (world frame), the bounding sphere that casts its soft shadow, and the
    circle (x, z, radius) on the floor that no other group's circle overlaps."""

    kind: str
    parts: list[Solid]
    centre: np.ndarray
    radius: float
    footprint: tuple[float, float, float]


def _solid(shape: str, x: float, y0: float, z: float, half, yaw: float = 0.0) -> Solid:
    return Solid(shape, np.array([x, y0, z], np.float32), float(yaw), np.asarray(half, np.float32))


def _primitive_half(rng: np.random.Generator, shape: str, scale: float = 1.0) -> np.ndarray:
    if shape == "box":
        return rng.uniform(*BOX_HALF) * scale
    if shape == "sphere":
        return np.full(3, rng.uniform(*SPHERE_RADIUS) * scale)
    r, hh = rng.uniform(*ROUND_RADIUS) * scale, rng.uniform(*ROUND_HALF_HEIGHT) * scale
    return np.array([r, hh, r])


def _single(rng: np.random.Generator) -> list[Solid]:
    shape = SHAPES[rng.integers(len(SHAPES))]
    y0 = rng.uniform(*FLOAT_HEIGHT) if rng.random() < FLOAT_PROB else 0.0
    return [_solid(shape, 0.0, y0, 0.0, _primitive_half(rng, shape), rng.uniform(0, 2 * math.pi))]


def _items(rng: np.random.Generator, y0: float, half_x: float, half_z: float, max_height: float) -> list[Solid]:
    """Small things standing on a surface at height y0 within (+-half_x, +-half_z), at most max_height tall."""
    out = []
    for _ in range(rng.integers(ITEMS[0], ITEMS[1] + 1)):
        shape = SHAPES[rng.integers(len(SHAPES))]
        half = _primitive_half(rng, shape, SMALL)
        half = half * min(1.0, max_height / (2 * half[1]), 0.8 * half_z / max(half[0], half[2]))
        reach = max(half[0], half[2])
        x, z = (rng.uniform(-1, 1) * max(h - reach, 0.0) for h in (half_x, half_z))
        out.append(_solid(shape, x, y0, z, half, rng.uniform(0, 2 * math.pi)))
    return out


def _table(rng: np.random.Generator) -> list[Solid]:
    hx, hz = rng.uniform(*TABLE_HALF)
    height, top, leg = rng.uniform(*TABLE_HEIGHT), rng.uniform(*TABLE_TOP), rng.uniform(*LEG_HALF)
    parts = [_solid("box", 0.0, height - 2 * top, 0.0, (hx, top, hz))]
    leg_shape = "cylinder" if rng.random() < 0.4 else "box"
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_solid(leg_shape, sx * (hx - 1.5 * leg), 0.0, sz * (hz - 1.5 * leg),
                                (leg, (height - 2 * top) / 2, leg)))
    return parts + _items(rng, height, hx, hz, 0.6)


def _shelf(rng: np.random.Generator) -> list[Solid]:
    hx, hz, height = rng.uniform(*SHELF_WIDTH) / 2, rng.uniform(*SHELF_DEPTH) / 2, rng.uniform(*SHELF_HEIGHT)
    side = BOARD_HALF
    parts = [_solid("box", sx * (hx - side), 0.0, 0.0, (side, height / 2, hz)) for sx in (-1, 1)]
    parts.append(_solid("box", 0.0, 0.0, hz - side, (hx - 2 * side, height / 2, side)))  # back
    boards = rng.integers(SHELF_BOARDS[0], SHELF_BOARDS[1] + 1)
    gap = height / boards
    for k in range(boards):
        y = k * gap + (0.05 if k == 0 else 0.0)
        parts.append(_solid("box", 0.0, y, -side, (hx - 2 * side, side, hz - side)))
        if k < boards - 1 and rng.random() < 0.6:
            parts += _items(rng, y + 2 * side, hx - 2 * side, hz - 2 * side, 0.8 * gap)
    parts.append(_solid("box", 0.0, height - 2 * side, -side, (hx - 2 * side, side, hz - side)))  # top board
    return parts


def _stack(rng: np.random.Generator) -> list[Solid]:
    half, y0, parts = rng.uniform(*BOX_HALF), 0.0, []
    for _ in range(rng.integers(STACK_BOXES[0], STACK_BOXES[1] + 1)):
        parts.append(_solid("box", 0.0, y0, 0.0, half, rng.uniform(-0.4, 0.4)))
        y0 += 2 * half[1]
        half = half * rng.uniform(*STACK_SHRINK, 3)
    return parts


def _cabinet(rng: np.random.Generator) -> list[Solid]:
    half = rng.uniform(*CABINET_HALF)
    parts = [_solid("box", 0.0, 0.0, 0.0, half)]
    if rng.random() < 0.5:  # a back rest / headboard, or things on top
        parts.append(_solid("box", 0.0, 2 * half[1], half[2] * 0.8, (half[0], half[1] * rng.uniform(0.3, 1.0),
                                                                      half[2] * 0.2)))
    else:
        parts += _items(rng, 2 * half[1], half[0], half[2], 0.6)
    return parts


BUILDERS = {"single": _single, "table": _table, "shelf": _shelf, "stack": _stack, "cabinet": _cabinet}


def _extent(parts: list[Solid]) -> tuple[float, float]:
    """Half width (x) and half depth (z) of a rectangle around the group's origin that holds every part (parts
    turned by an angle count with their bounding circle)."""
    reach = [(abs(p.pos[0]) + p.half[0], abs(p.pos[2]) + p.half[2]) if p.yaw == 0 else
             (abs(p.pos[0]) + np.hypot(p.half[0], p.half[2]), abs(p.pos[2]) + np.hypot(p.half[0], p.half[2]))
             for p in parts]
    return float(max(r[0] for r in reach)), float(max(r[1] for r in reach))


def _to_world(kind: str, parts: list[Solid], x: float, z: float, yaw: float, reach: float) -> Group:
    """The group's parts moved to (x, z) and turned by yaw (local (lx, lz) -> world as raycast's inverse)."""
    c, s = math.cos(yaw), math.sin(yaw)
    placed = [Solid(p.shape, np.array([x + c * p.pos[0] + s * p.pos[2], p.pos[1], z - s * p.pos[0] + c * p.pos[2]],
                                      np.float32), p.yaw + yaw, p.half) for p in parts]
    lo = np.min([p.pos - [p.half[0] + p.half[2], 0, p.half[0] + p.half[2]] for p in placed], axis=0)
    hi = np.max([p.pos + [p.half[0] + p.half[2], 2 * p.half[1], p.half[0] + p.half[2]] for p in placed], axis=0)
    return Group(kind, placed, ((lo + hi) / 2).astype(np.float32), float(np.linalg.norm(hi - lo) / 2), (x, z, reach))


def _spot(rng: np.random.Generator, kind: str, extent: tuple[float, float], room, cam: np.ndarray,
          yaw: float) -> tuple[float, float, float, tuple[float, float]]:
    """A candidate (x, z, yaw, world half extents (x, z)): back against a wall, or anywhere in view of the camera
    (then turned at random, so its extents are its bounding circle's)."""
    hw, depth = room.half_width, room.depth
    ex, ez = extent
    if rng.random() < AGAINST_WALL[kind]:
        wall, along = rng.integers(3), rng.uniform(-1, 1)  # left, right or far wall; where along it
        if wall == 2:
            return along * (hw - ex), depth - ez - WALL_GAP, 0.0, (ex, ez)
        side = -1 if wall == 0 else 1
        z = cam[2] + (1 + along) / 2 * (depth - cam[2])
        return side * (hw - ez - WALL_GAP), z, side * math.pi / 2, (ez, ex)
    return _in_view(rng, cam, yaw, rng.uniform(*VIEW_DISTANCE), VIEW_FILL, math.hypot(ex, ez))


def _hero_spot(rng: np.random.Generator, kind: str, extent: tuple[float, float], room, cam: np.ndarray,
               yaw: float) -> tuple[float, float, float, tuple[float, float]]:
    """A candidate spot for the subject: straight ahead of the camera (a little to the side), just clear of it, at
    any turn."""
    reach = math.hypot(*extent)
    return _in_view(rng, cam, yaw, CAMERA_CLEARANCE + reach + GROUP_GAP + rng.uniform(*HERO_GAP), HERO_LATERAL, reach)


def _in_view(rng: np.random.Generator, cam: np.ndarray, yaw: float, dist: float, fill: float,
             reach: float) -> tuple[float, float, float, tuple[float, float]]:
    """A spot `dist` ahead of the camera and up to `fill * dist` to either side, turned at random, so its extents
    are its bounding circle's `reach`: (x, z, yaw, (reach, reach))."""
    lateral = rng.uniform(-1, 1) * fill * dist
    x = cam[0] + dist * math.sin(yaw) + lateral * math.cos(yaw)
    return x, cam[2] + dist * math.cos(yaw) - lateral * math.sin(yaw), rng.uniform(0, 2 * math.pi), (reach, reach)


def place_groups(rng: np.random.Generator, count: int, room, cam: np.ndarray, yaw: float) -> list[Group]:
    """Up to `count` groups inside the room, clear of each other and of the camera (a group with no free spot
    after PLACEMENT_TRIES is dropped). Overlaps are tested between bounding circles in the floor plane."""
    groups: list[Group] = []
    taken: list[tuple[float, float, float]] = [(float(cam[0]), float(cam[2]), CAMERA_CLEARANCE)]
    hero = rng.random() < HERO_PROB
    for i in range(count):
        kind = KINDS[rng.choice(len(KINDS), p=KIND_WEIGHTS)]
        parts = BUILDERS[kind](rng)
        extent = _extent(parts)
        reach = math.hypot(*extent)
        spot = _hero_spot if hero and i == 0 else _spot
        for _ in range(PLACEMENT_TRIES):
            x, z, turn, (ex, ez) = spot(rng, kind, extent, room, cam, yaw)
            inside = abs(x) <= room.half_width - ex and -room.behind + ez <= z <= room.depth - ez
            if inside and all(math.hypot(x - tx, z - tz) > reach + r + GROUP_GAP for tx, tz, r in taken):
                groups.append(_to_world(kind, parts, x, z, turn, reach))
                taken.append((x, z, reach))
                break
    return groups
