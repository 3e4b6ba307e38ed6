"""Write src/tellapart/data/vocabulary.txt: the phrases an image-text model scores by default.

Usage (from the repository root; nothing is downloaded)::

    python scripts/make_vocabulary.py [--out src/tellapart/data/vocabulary.txt] [--check]

The file has one phrase per line, under ``## SECTION`` headers (``#`` lines are comments; see
``tellapart.concepts.vocabulary``). Phrases are written to complete the prompt a model was trained with
("a photo of {}."): countable things carry their article ("a dog", "an umbrella"), scenes, stuff and
plurals none ("grass", "people sitting"). Sections: objects (the ImageNet-1k classes of
``tellapart/data/imagenet_classes.json``, the 80 COCO classes and everyday things), scenes, people and
activities, attributes (colours, materials, textures, sizes, shapes), styles, photographic conditions, and
medical vocabularies: dermoscopy (the ABCD rule and the pattern-analysis structures), radiology findings
(chest X-ray, CT, MRI and bone), histology and cytology (including blood smears).

The output is deterministic (fixed lists, combinations in list order, no timestamps); ``--check`` exits 1
when the committed file differs from what the script writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "tellapart" / "data"
OUT = DATA / "vocabulary.txt"

COCO = """person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign
parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie
suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard
tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot
hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard
cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier
toothbrush""".split()

EVERYDAY = """tree flower leaf rock fence wall window door roof staircase bridge road sign lamp pole tower
building house skyscraper statue fountain flag poster painting mirror curtain pillow blanket carpet rug
table desk shelf cabinet drawer box bag basket bucket barrel ladder rope chain wire cable pipe tire wheel
engine helmet hat cap glasses sunglasses mask glove shoe boot sock shirt jacket coat dress skirt uniform
scarf necklace ring watch bracelet earring wallet coin banknote credit_card ticket receipt envelope
letter newspaper magazine map calendar notebook pen pencil brush ruler calculator screen monitor
smartphone tablet camera microphone speaker headphones guitar piano violin drum trumpet ball toy doll
balloon candle cup_of_coffee plate glass_of_water bottle_of_wine loaf_of_bread egg cheese tomato potato
onion lemon strawberry grape watermelon salad soup burger noodles rice sushi steak chicken fish bird_nest
spider insect butterfly snake lizard turtle frog rabbit mouse squirrel deer fox wolf lion tiger monkey
whale dolphin shark jellyfish crab shell coral cloud sun moon star rainbow lightning fire smoke snow ice
puddle wave logo barcode qr_code watermark text handwriting label price_tag license_plate clock_face
arrow circle square triangle rectangle line grid dot stripe ruler_scale measuring_tape syringe pill
bandage stethoscope wheelchair crutch hospital_bed x-ray_film""".split()

SCENES = """a beach|a forest|a mountain|mountains in the background|a desert|a field|a meadow|a park|a garden|
a lake|a river|the sea|the ocean|a waterfall|a cave|a canyon|a glacier|a snowy landscape|a jungle|a swamp|
an island|a farm|a vineyard|a city street|a city skyline|a highway|a parking lot|a bridge over water|
a train station|an airport|a harbor|a market|a shopping mall|a supermarket|a restaurant|a cafe|a bar|
a kitchen|a living room|a bedroom|a bathroom|an office|a classroom|a library|a laboratory|a hospital room|
an operating room|a gym|a yoga studio|a swimming pool|a stadium|a sports field|a tennis court|
a basketball court|a concert|a stage|a museum|a church|a temple|a castle|a factory|a warehouse|
a construction site|a garage|a workshop|a prison|a playground|a school|a campsite|
a street at night|a crowded place|an empty room|an indoor scene|an outdoor scene|
a rural area|an urban area|a suburb|underwater|the sky|outer space|
a sunset|a sunrise|a rainy day|a foggy day|a snowy day|a sunny day|night time|a cloudy sky|a blue sky|
a studio background|a plain white background|a plain black background|a green screen|a cluttered background|
a blurred background|a wooden floor|a tiled floor|grass|sand|snow|water|concrete|asphalt|dirt|mud|
a brick wall|a white wall|a road in the countryside|a mountain path|a hiking trail|a rooftop|a balcony|
a window view|a corridor|a staircase inside a building|an elevator|a subway|a bus interior|a car interior|
an airplane cabin|a boat deck|a tent|a cabin in the woods""".replace("\n", "").split("|")

PEOPLE = """a person|a man|a woman|a child|a baby|a teenager|an elderly person|a group of people|a crowd|
two people|a family|a couple|a doctor|a nurse|a patient|a soldier|a police officer|a firefighter|a chef|
a worker|an athlete|a student|a teacher|a musician|a dancer|a farmer|a businessman|a tourist|a bride|
a person wearing glasses|a person wearing a hat|a person wearing a mask|a person with a beard|
a person with long hair|a bald person|a smiling person|a sad person|an angry person|a surprised person|
a person's face|a close-up of a face|a person's hand|hands|feet|a person's back|a person in profile|
a selfie|a portrait|a full-body photo of a person|a person in uniform|a person in a suit|
a person in sportswear|a person in swimwear|a person in winter clothes|a person in a hospital gown""".replace(
    "\n", "").split("|")

ACTIVITIES = """standing|sitting|lying down|walking|running|jumping|dancing|climbing|swimming|diving|surfing|
skiing|snowboarding|skateboarding|cycling|riding a horse|driving|playing football|playing basketball|
playing tennis|playing golf|playing music|playing guitar|singing|reading|writing|typing|cooking|eating|
drinking|sleeping|working|studying|talking|laughing|crying|hugging|shaking hands|waving|pointing|
taking a photo|looking at a phone|using a laptop|carrying a bag|holding a baby|pushing a stroller|
fishing|gardening|painting|shopping|praying|meditating|doing yoga|in a yoga pose|standing on one leg|
stretching|doing push-ups|lifting weights|boxing|fighting|marching|protesting|waiting|queuing|
sitting cross-legged|kneeling|squatting|crouching|bending over|raising their arms|with arms crossed|
sitting at a desk|sitting on a bench|sitting on the ground|lying on a bed|lying on the grass|
standing in a line|posing for a photo|looking at the camera|looking away|with closed eyes|
walking a dog|playing with a dog|feeding animals|riding a bike|riding a motorcycle|hiking|camping|
celebrating|giving a speech|teaching|examining a patient|operating|in a wheelchair""".replace(
    "\n", "").split("|")

COLOURS = """red orange yellow green blue purple pink brown black white gray beige turquoise teal navy
maroon gold silver violet magenta cyan olive tan cream dark_red light_blue dark_green""".split()
MATERIALS = """wood metal glass plastic stone concrete brick paper cardboard fabric cotton wool leather
fur silk denim rubber ceramic porcelain marble steel gold silver copper ice water sand""".split()
TEXTURES = """smooth rough bumpy striped spotted dotted checkered plaid floral patterned wrinkled
cracked scratched rusty shiny glossy matte fuzzy furry hairy grainy porous scaly woven knitted
transparent translucent reflective wet dry dusty dirty clean""".split()
SIZES = """tiny small large huge tall short long wide narrow thin thick round square rectangular
triangular circular oval irregular symmetric asymmetric elongated flat curved pointed""".split()
COUNTABLE_THINGS = ["object", "background", "shape", "car", "wall", "flower", "pattern", "shirt", "dress",
                    "bag", "hat", "door", "building", "bird", "fish", "fruit"]
MASS_THINGS = ["clothing", "light", "sky", "water", "hair", "paint", "leaves"]
# Objects whose colour people name ("a red car"): combined with the first colours of COLOURS.
COLOURED_OBJECTS = ["car", "bus", "truck", "bicycle", "motorcycle", "boat", "umbrella", "backpack",
                    "chair", "couch", "bed", "cup", "bottle", "book", "kite", "ball", "balloon", "jacket",
                    "shoe", "tie"]
SHAPE_THINGS = ["object", "shape", "spot", "mark", "blob", "region", "building", "structure"]

STYLES = """a photograph|a sketch|a pencil drawing|a charcoal drawing|an ink drawing|a line drawing|
a cartoon|an anime drawing|a comic|a painting|an oil painting|a watercolor painting|an acrylic painting|
an impressionist painting|an abstract painting|pop art|pixel art|a mosaic|graffiti|a tattoo|
a 3D rendering|a computer-generated image|a video game screenshot|a screenshot|a screenshot of a website|
a screenshot of a phone|a screenshot of a spreadsheet|a user interface|a diagram|a chart|a graph|a plot|
a table of numbers|a map|a floor plan|a blueprint|an infographic|a logo|an icon|clip art|a poster|
a book cover|a document|a scanned document|a handwritten note|a receipt|a form|a slide from a presentation|
a meme|a stock photo|a studio photo|a product photo|a professional photo|an amateur photo|a snapshot|
a vintage photo|an old photograph|a film photograph|a polaroid|a black and white photo|a sepia photo|
a cinematic still|a frame from a video|a security camera image|a dashcam image|a drone photo|
a satellite image|an aerial photo|a microscope image|a medical image|an x-ray|a CT scan|an MRI scan|
an ultrasound image|a thermal image|an infrared photo|a night vision image|an ai-generated image|
a photorealistic render|a sculpture|an embroidery|a collage|a stained glass window|a silhouette|
a double exposure|a panorama|a macro photo|a long exposure photo|a tilt-shift photo|an HDR photo""".replace(
    "\n", "").split("|")

CONDITIONS = """a blurry photo|a sharp photo|an out-of-focus photo|a motion-blurred photo|a shaky photo|
a dark photo|a bright photo|an overexposed photo|an underexposed photo|a low-contrast photo|
a high-contrast photo|a noisy photo|a grainy photo|a low-resolution photo|a high-resolution photo|
a pixelated photo|a heavily compressed photo|a jpeg with artifacts|a cropped photo|a rotated photo|
an upside-down photo|a tilted photo|a stretched photo|a close-up|an extreme close-up|a wide shot|
a photo taken from far away|an aerial view|a view from above|a view from below|a side view|a front view|
a back view|a top-down view|a photo with a flash|a photo with harsh shadows|a photo with soft light|
backlighting|a photo with lens flare|a photo with vignetting|a photo with a border|a photo with a frame|
a photo with a watermark|a photo with a timestamp|a photo with text overlay|a photo with a caption|
a photo with a sticker|a photo with a logo|a photo with a ruler|a photo with a color calibration chart|
a photo with a hand in it|a photo with a finger in it|a photo with a dirty lens|a photo with reflections|
a photo through a window|a photo with glare|a photo in the rain|a photo in fog|a photo at night|
a photo at golden hour|an indoor photo with artificial light|a photo under fluorescent light|
a warm-toned photo|a cool-toned photo|a green-tinted photo|a yellow-tinted photo|a blue-tinted photo|
a saturated photo|a desaturated photo|a faded photo|a grayscale image|a monochrome image|
a photo with a black background|a photo with a white background|an image with black padding|
a centered subject|an off-center subject|a subject at the edge of the frame|a partially occluded object|
a small object in a large frame|a cluttered image|a minimalist image|a symmetric composition|
a photo with many objects|a photo with a single object|an empty image|a blank image|a corrupted image|
an image with a black bar|an image split in two|a photo of a screen|a photo of a printed photo""".replace(
    "\n", "").split("|")

DERMOSCOPY = """a skin lesion|a mole|a nevus|a melanoma|a benign nevus|a dysplastic nevus|
a seborrheic keratosis|a basal cell carcinoma|a squamous cell carcinoma|an actinic keratosis|
a dermatofibroma|a vascular lesion|a hemangioma|an angioma|a pyogenic granuloma|a solar lentigo|
a lentigo maligna|a blue nevus|a Spitz nevus|a congenital nevus|a halo nevus|an amelanotic lesion|
a pigmented lesion|a non-pigmented lesion|a dermoscopy image|a clinical photo of skin|
an asymmetric lesion|a symmetric lesion|asymmetry in shape|asymmetry in color|asymmetry in structure|
an irregular border|a regular border|a sharp border|an ill-defined border|a notched border|
a scalloped border|abrupt cut-off of the pigment network|multiple colors|a single color|
two colors|light brown color|dark brown color|black color|blue-gray color|white color|red color|
a large diameter lesion|a small lesion|an evolving lesion|a raised lesion|a flat lesion|a nodule on the skin|
a pigment network|a typical pigment network|an atypical pigment network|a broadened network|
a negative network|an absent pigment network|dots|globules|dots and globules|irregular dots and globules|
regular globules|peripheral globules|brown dots|black dots|blue-gray dots|streaks|radial streaming|
pseudopods|irregular streaks|a starburst pattern|blue-white veil|a blue-white structure|
regression structures|white scar-like areas|peppering|blue-gray granules|milia-like cysts|
comedo-like openings|fissures and ridges|a brain-like pattern|a cerebriform pattern|moth-eaten border|
fingerprint-like structures|arborizing vessels|dotted vessels|linear irregular vessels|
hairpin vessels|glomerular vessels|comma vessels|polymorphous vessels|milky red areas|
red lacunae|red-blue lacunae|leaf-like areas|spoke-wheel areas|large blue-gray ovoid nests|
ulceration|crusting|scale|hyperkeratosis|shiny white structures|chrysalis structures|
rosettes|a central white patch|a homogeneous pattern|a reticular pattern|a globular pattern|
a multicomponent pattern|a parallel ridge pattern|a parallel furrow pattern|a lattice-like pattern|
a structureless area|a blotch|an irregular blotch|hypopigmentation|hyperpigmentation|eccentric pigmentation|
erythema|inflammation|hair on the skin|a hair-covered lesion|air bubbles|immersion fluid|
a dermoscope ruler|a scale bar|ink markings on the skin|a surgical marker|a gentian violet marking|
a color calibration patch|a dark corner from the dermoscope|a circular dermoscope frame|
light skin|dark skin|fair skin|sun-damaged skin|wrinkled skin|a tattoo on the skin|a scar|
a lesion on the face|a lesion on the back|a lesion on the leg|a lesion on the palm|a lesion on the sole|
a lesion on the nail|a lesion on the scalp|acral skin|mucosal skin|a rash|psoriasis|eczema|acne|
a wart|a cyst|a blister|a wound|a burn|an ulcer|a bruise|vitiligo|rosacea""".replace("\n", "").split("|")

RADIOLOGY = """a chest x-ray|a frontal chest radiograph|a lateral chest radiograph|a portable chest x-ray|
an AP chest x-ray|a PA chest x-ray|a supine radiograph|a normal chest x-ray|an abnormal chest x-ray|
consolidation|lobar consolidation|airspace opacity|lung opacity|pneumonia|pleural effusion|
a large pleural effusion|bilateral pleural effusions|blunting of the costophrenic angle|cardiomegaly|
an enlarged heart|a normal heart size|pneumothorax|tension pneumothorax|a lung nodule|multiple nodules|
a lung mass|a mass|a cavitary lesion|atelectasis|collapse of a lobe|ground-glass opacity|
pulmonary edema|interstitial edema|kerley b lines|vascular congestion|interstitial lung disease|
reticular opacities|honeycombing|fibrosis|emphysema|hyperinflated lungs|bullae|
pleural thickening|calcification|calcified granuloma|hilar enlargement|lymphadenopathy|
widened mediastinum|pneumomediastinum|subcutaneous emphysema|free air under the diaphragm|
elevated hemidiaphragm|hiatal hernia|a fracture|a rib fracture|a clavicle fracture|a vertebral fracture|
a hip fracture|a wrist fracture|a displaced fracture|a healed fracture|a dislocation|osteoporosis|
osteoarthritis|joint space narrowing|a bone lesion|a lytic lesion|a sclerotic lesion|scoliosis|
support devices|an endotracheal tube|a nasogastric tube|a central venous catheter|a chest tube|
a pacemaker|an implanted defibrillator|sternotomy wires|surgical clips|a prosthesis|an orthopedic implant|
screws and plates|a stent|ECG leads|monitoring electrodes|a medical device|a foreign body|
jewelry on the patient|a radiology marker|a letter marker on the image|text burned into the image|
a brain MRI|a brain CT|a head CT|an abdominal CT|a chest CT|a spine MRI|a knee MRI|a mammogram|
a breast mass|microcalcifications|architectural distortion|dense breast tissue|an ultrasound scan|
a tumor|a brain tumor|a glioma|a meningioma|a metastasis|an enhancing lesion|a ring-enhancing lesion|
a hemorrhage|an intracranial hemorrhage|a subdural hematoma|an infarct|a stroke|white matter lesions|
midline shift|hydrocephalus|enlarged ventricles|brain atrophy|edema around a lesion|a cyst|an abscess|
a kidney stone|a gallstone|an enlarged liver|a liver lesion|ascites|bowel obstruction|
free fluid|contrast enhancement|a contrast-enhanced scan|a non-contrast scan|motion artifact|
metal artifact|beam hardening|a noisy scan|a low-dose scan|a cropped field of view|a rotated patient|
poor inspiration|an underpenetrated radiograph|an overpenetrated radiograph|a pediatric x-ray|
an adult x-ray|a patient lying down|a patient standing|a scan with a black border|
a scan with a white border""".replace("\n", "").split("|")

HISTOLOGY = """a histology slide|an H&E stained section|a tissue section|an immunohistochemistry stain|
a cytology smear|a blood smear|a pap smear|a fine-needle aspirate|a frozen section|a whole slide image tile|
normal tissue|tumor tissue|a carcinoma|an adenocarcinoma|a sarcoma|a lymphoma|benign tissue|
malignant cells|metastatic tumor|invasive tumor|in situ carcinoma|stroma|desmoplastic stroma|
fat tissue|adipocytes|muscle tissue|connective tissue|collagen|blood vessels|capillaries|
glands|irregular glands|gland formation|cribriform glands|solid sheets of cells|papillary structures|
epithelium|squamous epithelium|keratin pearls|mucin|mucus|necrosis|comedo necrosis|hemorrhage|
fibrin|inflammation|lymphocytes|a lymphocytic infiltrate|tumor-infiltrating lymphocytes|neutrophils|
eosinophils|plasma cells|macrophages|histiocytes|giant cells|granulomas|calcifications|
psammoma bodies|mitotic figures|many mitoses|atypical mitoses|apoptotic bodies|
nuclear pleomorphism|large nuclei|small nuclei|hyperchromatic nuclei|vesicular nuclei|
prominent nucleoli|irregular nuclear membranes|nuclear grooves|nuclear inclusions|binucleated cells|
multinucleated cells|a high nuclear-to-cytoplasmic ratio|clear cytoplasm|eosinophilic cytoplasm|
basophilic cytoplasm|vacuoles|cytoplasmic vacuoles|signet ring cells|spindle cells|round cells|
clusters of cells|isolated cells|crowded cells|overlapping nuclei|loss of polarity|
inclusion bodies|viral inclusions|koilocytes|bacteria|fungal hyphae|yeast|parasites|
parasites in red cells|malaria parasites|ring forms in red cells|schizonts|gametocytes|
red blood cells|white blood cells|platelets|a neutrophil|a lymphocyte|a monocyte|an eosinophil|
a basophil|blast cells|atypical lymphocytes|sickle cells|target cells|schistocytes|spherocytes|
teardrop cells|nucleated red cells|rouleaux|clumped platelets|a thick blood film|a thin blood film|
an apoptotic cell|a dividing cell|a dead cell|a cell with a large nucleus|a cell with many vacuoles|
a pink stain|a purple stain|a brown stain|a blue stain|a pale stain|an intense stain|uneven staining|
a fluorescence image|a stained nucleus|a fluorescent cell|a cell culture|a colony of bacteria|
tissue folds|a tissue tear|an air bubble under the coverslip|a pen marking on the slide|
out-of-focus tissue|debris|a stain precipitate|a blank area of the slide|a scanner artifact|
a low magnification view|a high magnification view|an oil immersion view""".replace("\n", "").split("|")


def article(noun: str) -> str:
    """Return the noun with "a" or "an" (by its first letter; a few spoken exceptions)."""
    first = noun.split()[0].lower()
    vowel = first[0] in "aeiou" and not first.startswith(("uni", "use", "eu", "one"))
    return f"{'an' if vowel or first.startswith(('hour', 'honest', 'x-ray')) else 'a'} {noun}"


def words(name: str) -> str:
    return name.replace("_", " ")


def sections() -> dict[str, list[str]]:
    """Return section name -> phrases, in file order."""
    imagenet = [words(name) for _, name in json.loads((DATA / "imagenet_classes.json").read_text())]
    out: dict[str, list[str]] = {
        "objects": [article(words(name)) for name in [*COCO, *EVERYDAY]],
        "imagenet": [article(name) for name in imagenet],
        "scenes": SCENES,
        "people": PEOPLE,
        "activities": (
            [f"people {a}" for a in ACTIVITIES] + [f"a person {a}" for a in ACTIVITIES]
            + [f"a child {a}" for a in ACTIVITIES[:40]]
        ),
        "colours": (
            [words(c) for c in COLOURS]
            + [article(f"{words(c)} {t}") for c in COLOURS for t in COUNTABLE_THINGS]
            + [f"{words(c)} {t}" for c in COLOURS for t in MASS_THINGS]
            + [f"mostly {words(c)} colors" for c in COLOURS]
            + [article(f"{c} {o}") for c in COLOURS[:12] for o in COLOURED_OBJECTS]
        ),
        "materials": ([f"something made of {m}" for m in MATERIALS]
                      + [article(f"{m} {thing}") for thing in ("surface", "object") for m in MATERIALS]),
        "textures": [article(f"{t} {thing}") for thing in ("surface", "texture", "object") for t in TEXTURES],
        "shapes": [article(f"{s} {t}") for s in SIZES for t in SHAPE_THINGS],
        "styles": STYLES,
        "conditions": CONDITIONS,
        "dermoscopy": DERMOSCOPY,
        "radiology": RADIOLOGY,
        "histology": HISTOLOGY,
    }
    return out


def render() -> str:
    """Return the file's text: a header, then each section's phrases (each phrase once in the file)."""
    lines = [
        "# tellapart's built-in vocabulary for image-text models: one phrase per line.",
        "# Written by scripts/make_vocabulary.py; do not edit by hand. '## NAME' starts a section",
        "# (choose sections with --vocabulary builtin:NAME,NAME); other '#' lines are comments.",
    ]
    seen: set[str] = set()
    for name, phrases in sections().items():
        lines += ["", f"## {name}"]
        for phrase in phrases:
            phrase = " ".join(phrase.split())
            if phrase and phrase.lower() not in seen:
                seen.add(phrase.lower())
                lines.append(phrase)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the output")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'differs; rerun scripts/make_vocabulary.py'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    n = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"wrote {n} phrases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
