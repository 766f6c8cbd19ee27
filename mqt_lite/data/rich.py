"""The rich synthetic world (`render_scene(..., world="rich")`): domain-randomised rooms for real photographs.

The classic world (synthetic.py) teaches the six tasks on flat-shaded solids in an open box seen by one camera;
a model trained there has nothing to go on in a real photo. This world randomises what a real photo varies, so
that the only thing constant across scenes is the geometry the labels describe (domain randomisation, as in
robotics sim-to-real work). Each part, and why:
- camera: field of view, height, pitch, roll and pixel aspect drawn per scene (real photos come from phones held
  at any angle), so depth cannot be read off a fixed horizon;
- room: varied width, depth and ceiling height, with a ceiling; doors and windows cut out of the walls show the
  space behind them (another room, or outside far away), so "farther" is not always "the back wall";
- furniture (furniture.py): tables, shelves, stacks and cabinets from the four primitives, against walls or free,
  and in half the scenes a subject close in front of the camera (photos are framed around one);
- textures (photos.py): real photographs and procedural patterns, cut, scaled, rotated and recoloured per surface,
  so texture is not a cue for geometry;
- lighting and camera (lighting.py): several coloured point lights with soft shadows, corner darkening, then
  exposure, white balance, vignetting, blur, noise and JPEG artefacts.
The labels follow the classic conventions (synthetic.py's docstring) with these additions:
- instance ids: 0 floor, 1-4 walls (x-, x+, far z+, near z-), CEILING, then BEYOND + k for the space seen
  through a cut-out of wall k + 1 (its far wall), then FIRST_OBJECT + k for part k of the furniture. Floor and
  ceiling seen through a door continue the room's (ids 0 and CEILING).
- semseg: the label space has no ceiling or outside class: the ceiling and the far walls behind cut-outs are
  "wall"; ground seen through a cut-out is "floor"; each furniture part has its primitive's class.
- parts and saliency: on every furniture part, as for the classic objects.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from .furniture import place_groups
from .lighting import develop, sample_lights, shade
from .photos import PATTERNS, TEXTURE_SIZE, atlas
from .raycast import SEMSEG, Camera, scene_labels, screen_boxes, trace, write_hit

RENDER_VERSION = 2  # bump when scenes change: cached datasets are keyed by it (2: a subject in half the scenes)
CEILING, BEYOND, FIRST_OBJECT = 5, 6, 10
# camera (metres, degrees): pitch > 0 looks down
HFOV, CAM_HEIGHT, CAM_PITCH, CAM_ROLL, CAM_YAW = (45.0, 80.0), (0.5, 2.0), (-10.0, 35.0), (-10.0, 10.0), (-30., 30.)
PIXEL_ASPECT = (0.85, 1.18)  # vertical / horizontal focal length: a photo of another aspect squeezed to the input
ROOM_HALF_WIDTH, ROOM_DEPTH, ROOM_BEHIND, ROOM_HEIGHT = (1.5, 5.0), (3.5, 12.0), (0.5, 3.0), (2.3, 3.6)
CAMERA_MARGIN = 0.3  # the camera stays this far from the walls and the ceiling
GROUPS = (2, 9)
# cut-outs: probability per wall, doors vs windows, their sizes (metres) and the distance to what is behind them
CUTOUT_PROB, DOOR_PROB = 0.45, 0.4
DOOR_WIDTH, DOOR_HEIGHT, BEYOND_DOOR = (0.7, 1.4), (1.9, 2.2), (1.5, 5.0)
WINDOW_WIDTH, WINDOW_SILL, WINDOW_TOP, BEYOND_WINDOW = (0.6, 2.4), (0.5, 1.1), (1.6, 2.2), (6.0, 30.0)
# surfaces: chance of a photograph (else a procedural pattern), size of one texture tile (metres); walls and
# ceilings are often plain paint, as in real rooms
PHOTO_PROB, TILE_SIZE, WALL_PAINT, CEILING_PAINT = 0.6, (0.25, 3.0), 0.45, 0.6
FACE_NORMALS = np.array([(0, 1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, -1), (0, 0, 1), (0, -1, 0),
                         (1, 0, 0), (-1, 0, 0), (0, 0, -1), (0, 0, 1)], np.float32)  # world normal of each room id
U_IS_X = np.array([1, 0, 0, 1, 1, 1, 0, 0, 1, 1], bool)  # surface coordinates of each room id: u is x (else z),
V_IS_Z = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0], bool)  # v is z (floor, ceiling; else height y)



@dataclass
class Room:
    """An axis-aligned room: x in +-half_width, z from -behind to depth, floor y = 0, ceiling y = height;
    cut-outs: (wall 1-4, along from, along to, y from, y to, distance behind the wall, is a door)."""

    half_width: float
    depth: float
    behind: float
    height: float
    cutouts: list[tuple]


def _camera(rng: np.random.Generator, room: Room, H: int, W: int) -> Camera:
    """A random camera inside the room (any height, pitch, roll, field of view and pixel aspect) and its rays."""
    x = rng.uniform(-1, 1) * (room.half_width - CAMERA_MARGIN) * 0.6
    pos = np.array([x, min(rng.uniform(*CAM_HEIGHT), room.height - CAMERA_MARGIN), 0.0], np.float32)
    yaw, pitch, roll = (math.radians(rng.uniform(*r)) for r in (CAM_YAW, CAM_PITCH, CAM_ROLL))
    fwd = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    down = np.cross(right, fwd)  # as the classic camera
    right, down = math.cos(roll) * right + math.sin(roll) * down, -math.sin(roll) * right + math.cos(roll) * down
    rot = np.stack([right, down, fwd]).astype(np.float32)
    f = (W / 2) / math.tan(math.radians(rng.uniform(*HFOV)) / 2)
    fy = f * rng.uniform(*PIXEL_ASPECT)
    u = (np.arange(W, dtype=np.float32) + 0.5 - W / 2)[None, :] / f
    v = (np.arange(H, dtype=np.float32) + 0.5 - H / 2)[:, None] / fy
    dirs = tuple(u * rot[0, i] + v * rot[1, i] + rot[2, i] for i in range(3))
    return Camera(pos, yaw, rot, f, dirs, fy)


def _room(rng: np.random.Generator) -> Room:
    """A room of random size with a door or a window cut into some of its walls."""
    room = Room(rng.uniform(*ROOM_HALF_WIDTH), rng.uniform(*ROOM_DEPTH), rng.uniform(*ROOM_BEHIND),
                rng.uniform(*ROOM_HEIGHT), [])
    for wall in (1, 2, 3, 4):
        if rng.random() >= CUTOUT_PROB:
            continue
        door = rng.random() < DOOR_PROB
        lo, hi = (-room.behind, room.depth) if wall <= 2 else (-room.half_width, room.half_width)
        width = min(rng.uniform(*(DOOR_WIDTH if door else WINDOW_WIDTH)), 0.8 * (hi - lo))
        start = rng.uniform(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo) - width)
        y0, y1 = (0.0, rng.uniform(*DOOR_HEIGHT)) if door else (rng.uniform(*WINDOW_SILL), rng.uniform(*WINDOW_TOP))
        far = rng.uniform(*(BEYOND_DOOR if door else BEYOND_WINDOW))
        room.cutouts.append((wall, start, start + width, y0, min(y1, room.height - 0.1), far, door))
    return room


def _trace_room(cam: np.ndarray, dirs: tuple, room: Room) -> tuple[np.ndarray, np.ndarray]:
    """z-depth and room id (0-CEILING, or BEYOND + k through a cut-out of wall k + 1) of every ray."""
    dx, dy, dz = dirs
    hw = room.half_width
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero component gives +inf: that face is never hit
        tx = np.where(dx < 0, (-hw - cam[0]) / dx, (hw - cam[0]) / dx)
        ty = np.where(dy < 0, -cam[1] / dy, (room.height - cam[1]) / dy)
        tz = np.where(dz < 0, (-room.behind - cam[2]) / dz, (room.depth - cam[2]) / dz)
    face_x, face_y, face_z = np.where(dx < 0, 1, 2), np.where(dy < 0, 0, CEILING), np.where(dz < 0, 4, 3)
    x_first = (tx <= ty) & (tx <= tz)
    face = np.where(x_first, face_x, np.where(ty <= tz, face_y, face_z)).astype(np.int16)
    t = np.minimum(np.minimum(tx, ty), tz).astype(np.float32)
    for cut in room.cutouts:
        _through_cutout(cam, dirs, room, cut, t, face)
    return t, face


def _through_cutout(cam: np.ndarray, dirs: tuple, room: Room, cut: tuple, t: np.ndarray, face: np.ndarray) -> None:
    """Rays that hit wall `cut[0]` inside the cut-out go on to the floor, the ceiling (doors) or the walls of the
    space beyond: the room's box grown by the cut-out's distance `far` on every side (so depth stays bounded even
    for rays that leave at a grazing angle). Those walls get ids BEYOND + k - 1, k the room wall they face like."""
    wall, a0, a1, y0, y1, far, door = cut
    on = np.nonzero((face == wall).ravel())[0]
    d = [c.ravel()[on] for c in dirs]
    tt = t.ravel()[on]
    along = cam[2] + tt * d[2] if wall <= 2 else cam[0] + tt * d[0]
    y = cam[1] + tt * d[1]
    inside = (along > a0) & (along < a1) & (y > y0) & (y < y1)
    on, (dx, dy, dz) = on[inside], [c[inside] for c in d]
    if not on.size:
        return
    hx = room.half_width + far
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(dx < 0, (-hx - cam[0]) / dx, (hx - cam[0]) / dx)
        tz = np.where(dz < 0, (-room.behind - far - cam[2]) / dz, (room.depth + far - cam[2]) / dz)
        t_floor = np.where(dy < 0, -cam[1] / dy, np.inf)
        t_ceiling = np.where(dy > 0, (room.height - cam[1]) / dy, np.inf) if door else np.full(on.size, np.inf)
    side = np.where(tx <= tz, np.where(dx < 0, 1, 2), np.where(dz < 0, 4, 3))
    best = np.minimum(np.minimum(np.minimum(tx, tz), t_floor), t_ceiling)
    t.ravel()[on] = best
    face.ravel()[on] = np.where(best == t_floor, 0, np.where(best == t_ceiling, CEILING, BEYOND + side - 1))


def _hsv(rng: np.random.Generator, s: tuple, v: tuple) -> np.ndarray:
    """A colour of random hue with saturation and value drawn from the ranges s and v."""
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v)), np.float32)


def _material(rng: np.random.Generator, n_photos: int, n_textures: int) -> tuple:
    """One surface's look: (texture index, texture transform (4,), darkest and brightest colour (3,) each).

    The transform maps surface coordinates (metres) to texels: scale by a random tile size, turn (mostly by a
    right angle, sometimes by any angle), shift. Texels t in [0, 1] are recoloured per channel as lo + t (hi - lo):
    a photo keeps its colours, is tinted or becomes a duotone; a pattern gets two colours.
    """
    photo = rng.random() < PHOTO_PROB
    tex = rng.integers(n_photos) if photo else n_photos + rng.integers(n_textures - n_photos)
    scale = TEXTURE_SIZE / rng.uniform(*TILE_SIZE)
    angle = rng.uniform(0, 2 * math.pi) if rng.random() < 0.3 else rng.integers(4) * math.pi / 2
    shift = rng.uniform(0, TEXTURE_SIZE, 2)
    transform = np.array([scale * math.cos(angle), scale * math.sin(angle), *shift], np.float32)
    look = rng.integers(3) if photo else 2
    if look == 0:  # natural colours, brighter or darker
        lo, hi = np.zeros(3, np.float32), np.full(3, rng.uniform(0.6, 1.0), np.float32)
    elif look == 1:  # tinted
        hi = _hsv(rng, (0.05, 0.6), (0.5, 1.0))
        lo = hi * rng.uniform(0.0, 0.3)
    else:  # two colours
        lo, hi = _hsv(rng, (0.1, 0.9), (0.1, 0.6)), _hsv(rng, (0.0, 0.8), (0.4, 1.0))
    return tex, transform, lo, hi


def _paint(rng: np.random.Generator, n_photos: int) -> tuple:
    """A plain, light, mostly unsaturated colour (the "plain" pattern is all zeros: the colour is `lo`)."""
    colour = _hsv(rng, (0.0, 0.3), (0.6, 0.95))
    return n_photos + PATTERNS.index("plain"), np.zeros(4, np.float32), colour, colour


def _albedo(materials: list, instance: np.ndarray, uv: tuple) -> np.ndarray:
    """(3, H, W) float32 surface colour: every pixel's texel of its surface's material (one atlas lookup).

    Channel planes rather than (H, W, 3) pixels: numpy's element-wise loops are several times faster on them.
    """
    textures = atlas()[0].reshape(-1, 3)
    S = TEXTURE_SIZE
    first = np.array([m[0] * S * S for m in materials], np.int32)  # first texel of each surface's texture
    transform = np.stack([m[1] for m in materials])
    lo = np.stack([m[2] for m in materials], 1)  # (3, surfaces)
    span = (np.stack([m[3] for m in materials], 1) - lo) * np.float32(1 / 255)
    k = instance.astype(np.intp)
    a, b, su, sv = (transform[:, i][k] for i in range(4))
    u, v = uv
    iu = np.floor(a * u - b * v + su).astype(np.int32) & (S - 1)
    iv = np.floor(b * u + a * v + sv).astype(np.int32) & (S - 1)
    texel = np.take(textures, first[k] + iv * S + iu, axis=0)  # (H, W, 3) uint8: one compact gather
    return np.stack([lo[c][k] + texel[..., c] * span[c][k] for c in range(3)])


def _object_uv(h) -> tuple[np.ndarray, np.ndarray]:
    """Surface coordinates of a solid's hit points: its local point projected along the dominant axis of the
    local normal (top and bottom faces: x, z; faces across x: z, y; others: x, y)."""
    hit = h.hit
    nx, ny, nz = (np.abs(c[hit]) for c in h.n)
    px, py, pz = (c[hit] for c in h.p)
    top = (ny >= nx) & (ny >= nz)
    across_x = ~top & (nx >= nz)
    return np.where(across_x, pz, px), np.where(top, pz, py)


def render_rich(rng: np.random.Generator | int, size: int | tuple[int, int] = 128) -> dict[str, np.ndarray]:
    """Sample and render one scene of the rich world: the schema arrays plus `instance` (see the module docstring).

    Args:
        rng: a numpy Generator or an integer seed.
        size: image side or (H, W).
    """
    rng = np.random.default_rng(rng)
    H, W = (size, size) if isinstance(size, int) else size
    room = _room(rng)
    camera = _camera(rng, room, H, W)
    groups = place_groups(rng, int(rng.integers(GROUPS[0], GROUPS[1] + 1)), room, camera.pos, camera.yaw)
    depth, instance = _trace_room(camera.pos, camera.dirs, room)
    points = [camera.pos[i] + depth * camera.dirs[i] for i in range(3)]
    uv = (np.where(U_IS_X[instance], points[0], points[2]), np.where(V_IS_Z[instance], points[2], points[1]))
    normal = [FACE_NORMALS[:, i][instance] for i in range(3)]
    semseg = np.where(instance == 0, SEMSEG["floor"], SEMSEG["wall"]).astype(np.uint8)
    materials = _room_materials(rng)
    _render_groups(rng, groups, camera, (depth, normal, instance, uv, semseg), materials)
    points = [camera.pos[i] + depth * camera.dirs[i] for i in range(3)]
    light = shade((points, normal, instance >= FIRST_OBJECT), sample_lights(rng, room), groups, room)
    image = develop(rng, _albedo(materials, instance, uv) * light)  # (3, H, W) radiance -> (H, W, 3) photo
    # unit length again: a small sphere far away gets float32 normals p / r up to 4e-4 off unit length
    length = np.sqrt(normal[0] ** 2 + normal[1] ** 2 + normal[2] ** 2)
    normal = [c / length for c in normal]
    return scene_labels(image, semseg, instance, depth, normal, camera.rot, instance >= FIRST_OBJECT)


def _room_materials(rng: np.random.Generator) -> list:
    """Materials of the room ids 0 to FIRST_OBJECT - 1: floor, walls (often all alike), ceiling, spaces beyond."""
    textures, n_photos = atlas()
    n_textures = len(textures)
    floor = _material(rng, n_photos, n_textures)
    walls = [_paint(rng, n_photos) if rng.random() < WALL_PAINT else _material(rng, n_photos, n_textures)
             for _ in range(4)]
    if rng.random() < 0.6:
        walls = [walls[0]] * 4
    ceiling = _paint(rng, n_photos) if rng.random() < CEILING_PAINT else _material(rng, n_photos, n_textures)
    beyond = [_material(rng, n_photos, n_textures) for _ in range(4)]
    return [floor, *walls, ceiling, *beyond]


def _render_groups(rng: np.random.Generator, groups: list, camera: Camera, maps: tuple, materials: list) -> None:
    """Ray cast every part of every group; write depth, normal, instance, surface coordinates and class where it
    is the nearest surface, and append one material per part (mostly the group's own; parts out of view keep it)."""
    depth, normal, instance, (u, v), semseg = maps
    textures, n_photos = atlas()
    n_textures = len(textures)
    boxes = iter(screen_boxes([part for group in groups for part in group.parts], camera, *depth.shape))
    for group in groups:
        shared = _material(rng, n_photos, n_textures)
        for part, (rows, cols) in zip(group.parts, boxes):
            if rows.start >= rows.stop or cols.start >= cols.stop:
                materials.append(shared)
                continue
            materials.append(shared if rng.random() < 0.75 else _material(rng, n_photos, n_textures))
            h = trace(part, camera, depth, (rows, cols))
            if h is None:
                continue
            write_hit(h, len(materials) - 1, depth, normal, instance)
            u[h.rows, h.cols][h.hit], v[h.rows, h.cols][h.hit] = _object_uv(h)
            semseg[h.rows, h.cols][h.hit] = SEMSEG[part.shape]
