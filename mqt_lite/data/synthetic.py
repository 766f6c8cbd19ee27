"""The synthetic world: procedural rooms with labels for all six tasks, ray cast in numpy (not in the paper).

A scene is a room (floor, four walls, no ceiling; the camera inside, looking slightly down) with 3-7 objects
(box, sphere, cylinder, cone) of random yaw, size, colour and texture, lit by a directional and an ambient
light, with soft blob shadows on the room. One ray per pixel through a pinhole camera; every primitive is
intersected analytically for all rays at once, only inside its projected bounding box.

Label conventions (the tests check each exactly):
- world frame: x right, y up, z forward (metres), floor at y = 0; some objects float above the floor.
- semseg: CLASS_NAMES["synthetic"]["semseg"]; every pixel is labelled (the room fills the view).
- parts: by the world-space normal's up component n_y: top if n_y > cos 45deg, bottom if n_y < -cos 45deg,
  side otherwise; background on the floor and walls.
- sal: 1 on every object, 0 elsewhere.
- depth: z-depth (distance along the optical axis, not along the ray) in metres; valid everywhere.
- normals: camera frame as in OpenCV (x right, y down, z forward), unit length, facing the camera.
- edge: `schema.label_boundaries(semseg, instance)`: 1 where the class or the instance (the floor, each wall,
  each object) differs from the right or lower neighbour.
- image i of a split depends only on (seed, split, i): its RNG is SeedSequence((seed, SPLITS[split], i)).
"""
from __future__ import annotations

import argparse
import colorsys
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from ..tasks import CLASS_NAMES
from ..viz import sample_grid
from .schema import label_boundaries, png_bytes

SPLITS = {"train": 0, "val": 1, "test": 2}
RENDER_VERSION = 1  # bump when scenes change: cached datasets are keyed by it
SEMSEG = {name: i for i, name in enumerate(CLASS_NAMES["synthetic"]["semseg"])}
PARTS = {name: i for i, name in enumerate(CLASS_NAMES["synthetic"]["parts"])}
SHAPES = ("box", "sphere", "cylinder", "cone")
LABELS = ("semseg", "parts", "sal", "edge")  # uint8 maps
TEXTURES = ("plain", "stripes", "checks", "noise")
# camera and room (metres, degrees)
HFOV = 60.0
CAM_HEIGHT, CAM_PITCH, CAM_YAW = (1.2, 1.8), (8.0, 22.0), (-15.0, 15.0)
ROOM_HALF_WIDTH, ROOM_DEPTH, ROOM_BEHIND = (2.5, 4.5), (6.0, 10.0), 1.5
NUM_OBJECTS, OBJECT_DISTANCE, OBJECT_GAP, PLACEMENT_TRIES = (3, 7), (2.0, 6.5), 0.1, 20
VIEW_FILL = 0.8  # objects are placed within this fraction of the horizontal field of view
BOX_HALF, SPHERE_RADIUS = ((0.2, 0.2, 0.2), (0.6, 0.7, 0.6)), (0.2, 0.55)
ROUND_RADIUS, ROUND_HALF_HEIGHT = (0.15, 0.5), (0.25, 0.7)  # cylinders and cones
FLOAT_PROB, FLOAT_ABOVE_EYE = 0.25, (0.1, 0.8)  # floating objects hang above eye level: their bottoms show
TEXTURE_FREQ = (4.0, 10.0)  # pattern periods across an object
FIRST_OBJECT = 5  # instance ids: 0 floor, 1-4 walls, then the objects
NEAR = 0.05  # objects closer than this to the camera plane are ray cast over the whole image
# lighting
AMBIENT, DIFFUSE, SHADOW_STRENGTH, SHADOW_SOFTNESS, SHADOW_RADIUS = 0.4, 0.6, 0.6, 0.5, 0.8
LIGHT_ELEVATION = (35.0, 70.0)
PART_COS = math.cos(math.radians(45.0))
PLINTH_HEIGHT, PLINTH_SHADE = 0.12, 0.55  # darker band at the bottom of the walls
FLOOR_TILE = (0.4, 1.0)
EPS = 1e-4  # minimum ray distance of a hit (metres)
PNG_COMPRESSION = 1  # zlib level of the stored PNGs: 1 is 2x faster than 6, files ~25% larger
BUILD_CHUNK = 256  # scenes rendered before converting them to Arrow


@dataclass
class Obj:
    """One object: shape, base position (x, y0, z), yaw, half size (x, y, z) and appearance."""

    shape: str
    pos: np.ndarray
    yaw: float
    half: np.ndarray
    colours: tuple[np.ndarray, np.ndarray]
    texture: str
    freq: float
    axis: np.ndarray


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The RNG of image `index` of a split; the splits never share a scene."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {list(SPLITS)}")
    return np.random.default_rng(np.random.SeedSequence((seed, SPLITS[split], index)))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _sample_object(rng: np.random.Generator, cam: np.ndarray, yaw: float, room: tuple, placed: list) -> Obj | None:
    """A random object in front of the camera, inside the room, not overlapping `placed`; None if none fits."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    if shape == "box":
        half = rng.uniform(*BOX_HALF)
    elif shape == "sphere":
        half = np.full(3, rng.uniform(*SPHERE_RADIUS))
    else:  # cylinder and cone: radius, half height
        r, hh = rng.uniform(*ROUND_RADIUS), rng.uniform(*ROUND_HALF_HEIGHT)
        half = np.array([r, hh, r])
    footprint = float(np.hypot(half[0], half[2]))
    half_width, depth = room
    for _ in range(PLACEMENT_TRIES):
        dist = rng.uniform(*OBJECT_DISTANCE)
        lateral = rng.uniform(-1, 1) * VIEW_FILL * dist * math.tan(math.radians(HFOV / 2))
        x = cam[0] + dist * math.sin(yaw) + lateral * math.cos(yaw)
        z = cam[2] + dist * math.cos(yaw) - lateral * math.sin(yaw)
        inside = abs(x) < half_width - footprint and z < depth - footprint
        if inside and all(np.hypot(x - o.pos[0], z - o.pos[2]) > footprint + np.hypot(o.half[0], o.half[2])
                          + OBJECT_GAP for o in placed):
            break
    else:
        return None
    floating = rng.random() < FLOAT_PROB
    y0 = cam[1] + rng.uniform(*FLOAT_ABOVE_EYE) if floating else 0.0
    hue = rng.random()  # a saturated colour and a contrasting second one for the pattern
    c1 = _hsv(hue, rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95))
    c2 = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9))
    axis = rng.normal(size=3).astype(np.float32)
    return Obj(shape, np.array([x, y0, z], np.float32), float(rng.uniform(0, 2 * math.pi)), half.astype(np.float32),
               (c1, c2), TEXTURES[rng.integers(len(TEXTURES))], float(rng.uniform(*TEXTURE_FREQ)),
               axis / np.linalg.norm(axis))


def _intersect(obj: Obj, o: np.ndarray, d: tuple) -> tuple[np.ndarray, tuple, tuple]:
    """Entry distance t (inf = miss), local normal and local hit point of rays o + t d.

    The ray components d = (dx, dy, dz) are arrays in the object's frame (base centre at the origin, y up).
    """
    dx, dy, dz = d
    hx, hy, hz = (float(h) for h in obj.half)
    ox, oy, oz = (float(c) for c in o)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if obj.shape == "box":  # slabs
            slabs = [((-h - c) / di, (h - c) / di) for h, c, di in ((hx, ox, dx), (hy, oy - hy, dy), (hz, oz, dz))]
            near = [np.minimum(a, b) for a, b in slabs]
            t_in = np.maximum(np.maximum(near[0], near[1]), near[2])
            far = [np.maximum(a, b) for a, b in slabs]
            t_out = np.minimum(np.minimum(far[0], far[1]), far[2])
            t = np.where((t_in <= t_out) & (t_in > EPS), t_in, np.inf)
            on_x = near[0] >= t_in
            on_y = ~on_x & (near[1] >= t_in)
            n = (np.where(on_x, -np.sign(dx), 0), np.where(on_y, -np.sign(dy), 0),
                 np.where(on_x | on_y, 0, -np.sign(dz)))
        elif obj.shape == "sphere":
            cy = oy - hx  # origin relative to the centre
            a, b = dx * dx + dy * dy + dz * dz, dx * ox + dy * cy + dz * oz
            t = (-b - np.sqrt(b * b - a * (ox * ox + cy * cy + oz * oz - hx * hx))) / a
            t = np.where(t > EPS, t, np.inf)  # nan (miss) compares False
        else:  # cylinder / cone of radius hx, height 2 hy: lateral surface and caps, nearest valid hit
            h, r = 2 * hy, hx
            k2 = (r / h) ** 2 if obj.shape == "cone" else 0.0  # cone: x^2 + z^2 = k2 (h - y)^2, apex at y = h
            a = dx * dx + dz * dz - k2 * dy * dy
            b = ox * dx + oz * dz + k2 * (h - oy) * dy
            c = ox * ox + oz * oz - (k2 * (h - oy) ** 2 if k2 else r * r)
            root = np.sqrt(b * b - a * c)
            t = np.full(dx.shape, np.inf, np.float32)
            for tc in ((-b - root) / a, (-b + root) / a):  # both roots: the near one may hit the mirrored cone
                y = oy + tc * dy
                t = np.where((tc > EPS) & (y >= 0) & (y <= h) & (tc < t), tc, t)
            cap = np.zeros(dx.shape, bool)
            for y_cap in ((0.0, h) if k2 == 0 else (0.0,)):
                tc = (y_cap - oy) / dy
                px, pz = ox + tc * dx, oz + tc * dz
                hit = (tc > EPS) & (px * px + pz * pz <= r * r) & (tc < t)
                t, cap = np.where(hit, tc, t), cap | hit
    tf = np.where(np.isfinite(t), t, 0)
    p = (ox + tf * dx, oy + tf * dy, oz + tf * dz)
    if obj.shape == "sphere":
        n = (p[0] / hx, (p[1] - hx) / hx, p[2] / hx)
    elif obj.shape != "box":
        up = np.where(cap, np.where(p[1] > hy, 1.0, -1.0), k2 * (h - p[1]))  # gradient of the surface, halved
        nx, nz = np.where(cap, 0, p[0]), np.where(cap, 0, p[2])
        length = np.maximum(np.sqrt(nx * nx + up * up + nz * nz), 1e-12)
        n = (nx / length, up / length, nz / length)
    return t, n, p


def _pattern(obj: Obj, p: tuple) -> np.ndarray:
    """Texture mix in [0, 1] at local points p: 0 is the object's first colour, 1 its second."""
    scale = obj.freq / (2 * float(obj.half.mean()) + 1.0)
    qx, qy, qz = (c * scale for c in p)
    along = qx * obj.axis[0] + qy * obj.axis[1] + qz * obj.axis[2]
    if obj.texture == "stripes":
        return (np.sin(along * math.pi) > 0).astype(np.float32)
    if obj.texture == "checks":
        return ((np.floor(qx) + np.floor(qy) + np.floor(qz)) % 2).astype(np.float32)
    if obj.texture == "noise":  # two incommensurate waves: a marbled, non-repeating look
        return 0.5 + 0.25 * (np.sin(along * math.e + qy) + np.sin(qx * math.sqrt(2) - qz))
    return np.zeros_like(qx)


def _screen_box(obj: Obj, cam: np.ndarray, rot: np.ndarray, f: float, H: int, W: int) -> tuple[slice, slice]:
    """Rows and columns covering the object's bounding sphere (whole image when it is too close)."""
    centre = obj.pos + np.array([0, obj.half[1], 0], np.float32)
    radius = float(np.linalg.norm(obj.half))
    x, y, z = rot @ (centre - cam)  # camera frame
    if z - radius < NEAR:
        return slice(0, H), slice(0, W)
    z_lo, z_hi = z - radius, z + radius
    span = lambda a: (min((a - radius) / z_lo, (a - radius) / z_hi), max((a + radius) / z_lo, (a + radius) / z_hi))
    (u0, u1), (v0, v1) = span(x), span(y)
    cols = slice(max(0, int(f * u0 + W / 2) - 1), min(W, int(math.ceil(f * u1 + W / 2)) + 1))
    rows = slice(max(0, int(f * v0 + H / 2) - 1), min(H, int(math.ceil(f * v1 + H / 2)) + 1))
    return rows, cols


def render_scene(rng: np.random.Generator | int, size: int | tuple[int, int] = 128) -> dict[str, np.ndarray]:
    """Sample and render one scene.

    Args:
        rng: a numpy Generator or an integer seed.
        size: image side or (H, W).
    Returns: the schema arrays (image, semseg, parts, sal, edge, depth, normals) plus `instance` (int16 (H, W):
        0 floor, 1-4 walls, FIRST_OBJECT + k object k).
    """
    rng = np.random.default_rng(rng)
    H, W = (size, size) if isinstance(size, int) else size
    camera = _camera(rng, H, W)
    room = (rng.uniform(*ROOM_HALF_WIDTH), rng.uniform(*ROOM_DEPTH))
    objects: list[Obj] = []
    for _ in range(rng.integers(NUM_OBJECTS[0], NUM_OBJECTS[1] + 1)):
        obj = _sample_object(rng, camera.pos, camera.yaw, room, objects)
        if obj is not None:
            objects.append(obj)
    depth, normal, instance, mix = _render_room(camera.pos, camera.dirs, room, rng.uniform(*FLOOR_TILE))
    room_colours = _room_colours(rng)  # (2, 5, 3): base colour and colour change at mix = 1 of the floor and walls
    semseg = np.where(instance == 0, SEMSEG["floor"], SEMSEG["wall"]).astype(np.uint8)
    for k, obj in enumerate(objects):
        _render_object(obj, FIRST_OBJECT + k, camera, (depth, normal, instance, mix, semseg))
    image = _shade(rng, camera, (depth, normal, instance, mix), objects, room_colours)
    return _labels(image, semseg, instance, depth, normal, camera.rot)


@dataclass
class Camera:
    """A pinhole camera: position, yaw, rotation (rows: its right, down and forward axes in world coordinates),
    focal length in pixels and the world direction of every pixel's ray (3 arrays (H, W), unit forward component,
    so the ray parameter IS z-depth)."""

    pos: np.ndarray
    yaw: float
    rot: np.ndarray
    f: float
    dirs: tuple


def _camera(rng: np.random.Generator, H: int, W: int) -> Camera:
    """A random camera inside the room, looking slightly down, and its rays."""
    cam = np.array([rng.uniform(-0.5, 0.5), rng.uniform(*CAM_HEIGHT), 0.0], np.float32)
    yaw, pitch = np.radians(rng.uniform(*CAM_YAW)), np.radians(rng.uniform(*CAM_PITCH))
    fwd = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    down = np.array([right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2],
                     right[0] * fwd[1] - right[1] * fwd[0]])  # right x forward
    rot = np.stack([right, down, fwd]).astype(np.float32)
    f = (W / 2) / math.tan(math.radians(HFOV / 2))
    u = (np.arange(W, dtype=np.float32) + 0.5 - W / 2)[None, :] / f
    v = (np.arange(H, dtype=np.float32) + 0.5 - H / 2)[:, None] / f
    dirs = tuple(u * rot[0, i] + v * rot[1, i] + rot[2, i] for i in range(3))  # 3 x (H, W): u right + v down + fwd
    return Camera(cam, yaw, rot, f, dirs)


def _render_object(obj: Obj, instance_id: int, camera: Camera, maps: tuple) -> None:
    """Ray cast one object inside its screen box; where it is nearer than what is there, write its depth, world
    normal, instance id, texture mix and class into `maps` (depth, normal (3 arrays), instance, mix, semseg)."""
    depth, normal, instance, mix, semseg = maps
    H, W = depth.shape
    rows, cols = _screen_box(obj, camera.pos, camera.rot, camera.f, H, W)
    c, s = math.cos(obj.yaw), math.sin(obj.yaw)  # world -> local: rotate by -yaw about y
    to_local = lambda x, y, z: (c * x - s * z, y, s * x + c * z)
    o_loc = to_local(*(camera.pos - obj.pos))
    t, n, p = _intersect(obj, o_loc, to_local(*(a[rows, cols] for a in camera.dirs)))
    hit = t < depth[rows, cols]
    if not hit.any():
        return
    depth[rows, cols][hit] = t[hit]
    normal[0][rows, cols][hit] = (c * n[0] + s * n[2])[hit]  # local -> world
    normal[1][rows, cols][hit] = n[1][hit]
    normal[2][rows, cols][hit] = (c * n[2] - s * n[0])[hit]
    instance[rows, cols][hit] = instance_id
    mix[rows, cols][hit] = _pattern(obj, tuple(q[hit] for q in p))
    semseg[rows, cols][hit] = SEMSEG[obj.shape]


def _shade(rng: np.random.Generator, camera: Camera, maps: tuple, objects: list[Obj],
           room_colours: np.ndarray) -> np.ndarray:
    """The image (H, W, 3) uint8: albedo (base colour + texture mix x colour change) lit by a random directional
    light and the ambient light, with soft blob shadows on the room. maps: depth, world normal, instance, mix."""
    depth, normal, instance, mix = maps
    is_obj = instance >= FIRST_OBJECT
    el, az = np.radians(rng.uniform(*LIGHT_ELEVATION)), rng.uniform(0, 2 * math.pi)
    light = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)], np.float32)  # unit
    shade = AMBIENT + DIFFUSE * np.maximum(normal[0] * light[0] + normal[1] * light[1] + normal[2] * light[2], 0)
    shade = np.where(is_obj, shade, shade * _shadow(camera.pos, camera.dirs, depth, objects, light))
    table = [room_colours] + [np.stack([o.colours[0], o.colours[1] - o.colours[0]])[:, None] for o in objects]
    colours = np.concatenate(table, 1)  # (2, FIRST_OBJECT + len(objects), 3)
    albedo = colours[0][instance] + mix[..., None] * colours[1][instance]
    return np.clip(albedo * shade[..., None] * 255 + 0.5, 0, 255).astype(np.uint8)


def _labels(image: np.ndarray, semseg: np.ndarray, instance: np.ndarray, depth: np.ndarray, normal: list,
            rot: np.ndarray) -> dict[str, np.ndarray]:
    """The schema arrays of a rendered scene: parts from the world normal's up component, saliency, boundaries,
    normals turned into the camera frame (plus `instance`)."""
    is_obj = instance >= FIRST_OBJECT
    by_normal = np.array([PARTS["top"], PARTS["side"], PARTS["bottom"]], np.uint8)
    parts = by_normal[(normal[1] <= PART_COS).view(np.uint8) + (normal[1] < -PART_COS).view(np.uint8)]
    parts[~is_obj] = PARTS["background"]
    normals_cam = np.stack([sum(rot[i, j] * normal[j] for j in range(3)) for i in range(3)])  # (3, H, W)
    return {
        "image": image, "semseg": semseg, "parts": parts, "sal": is_obj.astype(np.uint8),
        "edge": label_boundaries(semseg, instance), "depth": depth, "normals": normals_cam.astype(np.float32),
        "instance": instance,
    }


def _render_room(cam: np.ndarray, dirs: tuple, room: tuple, tile: float) -> tuple:
    """Depth, world normal (3 arrays), instance id and texture mix of the floor and walls hit by every ray."""
    half_width, depth_back = room
    dx, dy, dz = dirs
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(dy < 0, -cam[1] / dy, np.inf)  # no ceiling: rays going up hit a wall
        t_x = np.where(dx > 0, (half_width - cam[0]) / dx, (-half_width - cam[0]) / dx)
        t_z = np.where(dz > 0, (depth_back - cam[2]) / dz, (-ROOM_BEHIND - cam[2]) / dz)
    t_x, t_z = np.where(t_x > 0, t_x, np.inf), np.where(t_z > 0, t_z, np.inf)  # rays parallel to a wall
    floor = (t_floor <= t_x) & (t_floor <= t_z)
    side = ~floor & (t_x <= t_z)
    back = ~floor & ~side
    depth = np.minimum(np.minimum(t_floor, t_x), t_z).astype(np.float32)
    normal = [np.where(side, -np.sign(dx), 0).astype(np.float32), floor.astype(np.float32),
              np.where(back, -np.sign(dz), 0).astype(np.float32)]
    instance = np.where(floor, 0, np.where(side, np.where(dx < 0, 1, 2), np.where(dz > 0, 3, 4))).astype(np.int16)
    px, py, pz = (cam[i] + depth * dirs[i] for i in range(3))
    checker = (np.floor(px / tile) + np.floor(pz / tile)) % 2
    mix = np.where(floor, checker, py < PLINTH_HEIGHT).astype(np.float32)
    return depth, normal, instance, mix


def _room_colours(rng: np.random.Generator) -> np.ndarray:
    """(2, 5, 3) base colours and colour changes (mix = 1: the other tile, the plinth) of the floor and 4 walls."""
    floor = _hsv(rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.5), rng.uniform(0.45, 0.7))
    wall = _hsv(rng.random(), rng.uniform(0.1, 0.35), rng.uniform(0.7, 0.95))
    walls = wall[None] * rng.uniform(0.85, 1.0, (4, 1)).astype(np.float32)  # each wall a slightly different shade
    base = np.concatenate([floor[None], walls])
    change = np.concatenate([floor[None] * (rng.uniform(0.7, 0.9) - 1), walls * (PLINTH_SHADE - 1)])
    return np.stack([base, change])


def _shadow(cam: np.ndarray, dirs: tuple, depth: np.ndarray, objects: list[Obj], light: np.ndarray) -> np.ndarray:
    """Soft blob shadows: light visibility from how far the ray towards the light passes from each object.

    Points are expressed in a light-aligned basis (a, b across the light, s along it) once; an object then
    shadows the points whose (a, b) lie within its radius and whose s is below its own.
    """
    across_a = np.cross(light, (0.0, 0.0, 1.0))
    across_a /= np.linalg.norm(across_a)
    basis = np.stack([across_a, np.cross(light, across_a), light]).astype(np.float32)  # (3, 3)
    p = [cam[i] + depth * dirs[i] for i in range(3)]
    a, b, s = (basis[k, 0] * p[0] + basis[k, 1] * p[1] + basis[k, 2] * p[2] for k in range(3))
    vis = np.ones_like(depth)
    for obj in objects:
        radius = SHADOW_RADIUS * float(np.mean(obj.half))
        ca, cb, cs = basis @ (obj.pos + np.array([0, obj.half[1], 0], np.float32))
        miss = np.sqrt((a - ca) ** 2 + (b - cb) ** 2)
        occ = np.clip((radius - miss) / (SHADOW_SOFTNESS * radius) + 0.5, 0, 1)
        vis = np.where(s < cs, np.minimum(vis, 1 - SHADOW_STRENGTH * occ), vis)
    return vis


def make_synthetic(num_images: int, seed: int = 0, size: int | tuple[int, int] = 128, split: str = "train",
                   cache_dir: str | Path | None = None):
    """The synthetic world as a datasets.Dataset in the common schema (numpy format).

    Args:
        num_images: scenes in the dataset; image i is the same whatever num_images is.
        seed: world seed; splits "train", "val", "test" of one seed never share a scene.
        size: image side or (H, W).
        split: one of SPLITS.
        cache_dir: if given, reuse the dataset saved there by an earlier call with the same arguments (and
            save it there otherwise); the reloaded dataset is memory-mapped instead of held in RAM
            (about 280 kB per 128x128 scene, mostly the float normals).
    """
    H, W = (size, size) if isinstance(size, int) else tuple(size)
    scene_rng(seed, split, 0)  # validates the split before any work
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"synthetic-v{RENDER_VERSION}-seed{seed}-{split}-{H}x{W}-n{num_images}"
        if (path / "dataset_info.json").is_file():
            return datasets.load_from_disk(str(path)).with_format("numpy")
    features = datasets.Features({
        "name": datasets.Value("string"),
        **{k: datasets.Image() for k in ("image", *LABELS)},  # PNG, lossless
        "depth": datasets.Array2D((H, W), "float32"),
        "normals": datasets.Array3D((3, H, W), "float32"),
    })
    chunks = []  # render and convert a chunk at a time: the rendered arrays of all scenes need not fit in memory
    for start in range(0, num_images, BUILD_CHUNK):
        index = range(start, min(start + BUILD_CHUNK, num_images))
        scenes = [render_scene(scene_rng(seed, split, i), (H, W)) for i in index]
        columns = {k: [png_bytes(s[k], PNG_COMPRESSION) for s in scenes] for k in ("image", *LABELS)}
        columns.update({k: [s[k] for s in scenes] for k in ("depth", "normals")})
        columns["name"] = [f"synthetic-{seed}-{split}-{i:06d}" for i in index]
        chunks.append(datasets.Dataset.from_dict(columns, features=features))
    ds = datasets.concatenate_datasets(chunks)
    if path is not None:
        tmp = path.with_name(path.name + ".tmp")  # complete or absent: a crash leaves no half-written cache
        shutil.rmtree(tmp, ignore_errors=True)
        ds.save_to_disk(str(tmp))
        tmp.rename(path)
        ds = datasets.load_from_disk(str(path))
    return ds.with_format("numpy")


def main(argv: list[str] | None = None) -> None:
    """`python -m mqt_lite.data.synthetic --figure docs/synthetic_world.png`: a grid of scenes and labels."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--figure", required=True, help="output PNG path")
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    samples = [render_scene(scene_rng(args.seed, "val", i), args.size) for i in range(args.scenes)]
    fig = sample_grid(samples, "synthetic")
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=100)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
